/* compare: `starling-bench compare SCENARIO --target NAME=HOST:PORT[:PID+PID]
 * ...`: the same scenario against several servers in one invocation, in
 * rounds that alternate between the targets (so a drift of the machine hits
 * all alike), then the key figures side by side with ratios against the
 * first target. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "bench.h"

#define MAX_TARGETS 8
#define MAX_ROUNDS 20

struct target {
	char name[32], host[64];
	int port;
	struct bench_opts pidopts; /* only pids/npids used */
};

/* The figures compared; each a mean over the rounds. */
enum fig { F_LOGIN_RATE, F_LOGIN_P99, F_SRV_MS_LOGIN, F_KIB_CONN, F_DELIVERED, F_SUSTAINED,
	   F_MSG_P99, F_SRV_US_MSG, F_BENCH_US_MSG, F_ERRORS, F_COUNT };
static const char *const fig_keys[F_COUNT] = {
	"logins_per_s", "login_p99_ms", "server_ms_per_login", "server_kib_per_conn",
	"delivered_per_s", "sustained_per_s", "delivery_p99_ms", "server_us_per_delivery",
	"bench_us_per_delivery", "errors" };
static const char *const fig_names[F_COUNT] = {
	"logins/s", "login p99 ms", "server CPU ms/login", "server KiB/conn", "delivered/s",
	"sustained/s", "delivery p99 ms", "server CPU us/delivery", "bench CPU us/delivery",
	"errors" };

struct cmp {
	struct target t[MAX_TARGETS];
	unsigned nt, rounds;
	const char *table; /* --table FILE: the markdown table */
	double fig[MAX_TARGETS][F_COUNT];
	unsigned runs[MAX_TARGETS];
};

static int parse_target(struct cmp *c, const char *arg)
{
	if (c->nt >= MAX_TARGETS)
		return -EINVAL;
	struct target *t = &c->t[c->nt];
	const char *eq = strchr(arg, '='), *colon = eq ? strchr(eq, ':') : NULL;
	if (!eq || !colon || eq == arg || (size_t)(eq - arg) >= sizeof t->name ||
	    (size_t)(colon - eq - 1) >= sizeof t->host)
		return -EINVAL;
	memcpy(t->name, arg, (size_t)(eq - arg));
	memcpy(t->host, eq + 1, (size_t)(colon - eq - 1));
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (port < 1 || port > 65535 || (*end && *end != ':'))
		return -EINVAL;
	t->port = (int)port;
	if (*end == ':' && opts_pids(&t->pidopts, end + 1))
		return -EINVAL;
	c->nt++;
	return 0;
}

static int extra_opt(void *ctx, int ch, const char *arg)
{
	struct cmp *c = ctx;
	if (ch == 'X')
		return parse_target(c, arg) ? -EINVAL : 1;
	if (ch == 'W') {
		c->table = arg;
		return 1;
	}
	if (ch == 'R') {
		char *end;
		long v = strtol(arg, &end, 10);
		if (*end || v < 1 || v > MAX_ROUNDS)
			return -EINVAL;
		c->rounds = (unsigned)v;
		return 1;
	}
	return 0;
}

static void collect(struct cmp *c, unsigned i, const struct bench_run *r)
{
	double v[F_COUNT] = {
		[F_LOGIN_RATE] = report_login_rate(r),
		[F_LOGIN_P99] = (double)hist_percentile(&r->login_lat, 99) / 1e6,
		[F_SRV_MS_LOGIN] = report_server_ms_per_login(r),
		[F_KIB_CONN] = report_kib_per_conn(r),
		[F_DELIVERED] = report_traffic_rate(r),
		[F_SUSTAINED] = report_sustained_rate(r),
		[F_MSG_P99] = (double)hist_percentile(&r->msg_lat, 99) / 1e6,
		[F_SRV_US_MSG] = report_server_us_per_msg(r),
		[F_BENCH_US_MSG] = report_self_us_per_msg(r),
		[F_ERRORS] = report_errors(r) ? (double)(r->failed + r->dropped) + 1 : 0,
	};
	for (int f = 0; f < F_COUNT; f++)
		c->fig[i][f] += v[f];
	c->runs[i]++;
}

static int run_one(struct cmp *c, unsigned i, const struct bench_opts *base)
{
	struct bench_run *r = calloc(1, sizeof *r); /* freed below */
	if (!r)
		return -ENOMEM;
	r->opt = *base;
	r->opt.host = c->t[i].host;
	r->opt.port = c->t[i].port;
	r->opt.json = NULL;
	memcpy(r->opt.pids, c->t[i].pidopts.pids, sizeof r->opt.pids);
	r->opt.npids = c->t[i].pidopts.npids;
	printf("== %s (%s:%d)\n", c->t[i].name, c->t[i].host, c->t[i].port);
	int rc = bench_setup(r);
	if (!rc)
		rc = bench_run(r);
	if (!rc) {
		report_table(r);
		collect(c, i, r);
	}
	fflush(stdout);
	bench_teardown(r);
	free(r);
	return rc;
}

/* Which figures mean anything for this scenario. */
static int fig_applies(enum bench_scenario s, int f)
{
	if (f == F_KIB_CONN)
		return s == BENCH_IDLE;
	if (f >= F_DELIVERED && f <= F_BENCH_US_MSG)
		return s >= BENCH_CHAT; /* chat, presence, pep */
	return 1;
}

static double mean(const struct cmp *c, unsigned i, int f)
{
	return c->runs[i] ? c->fig[i][f] / c->runs[i] : -1;
}

static void print_table(const struct cmp *c, enum bench_scenario s, FILE *out)
{
	fprintf(out, "\n| figure (mean of %u round%s) |", c->rounds, c->rounds > 1 ? "s" : "");
	for (unsigned i = 0; i < c->nt; i++)
		fprintf(out, " %s |", c->t[i].name);
	fputs("\n|---|", out);
	for (unsigned i = 0; i < c->nt; i++)
		fputs("---|", out);
	fputc('\n', out);
	for (int f = 0; f < F_COUNT; f++) {
		if (!fig_applies(s, f))
			continue;
		fprintf(out, "| %s |", fig_names[f]);
		double base = mean(c, 0, f);
		for (unsigned i = 0; i < c->nt; i++) {
			double v = mean(c, i, f);
			int prec = f == F_ERRORS || v >= 1000 ? 0 : v >= 10 ? 1 : 3;
			if (i && base > 0 && v >= 0)
				fprintf(out, " %.*f (%.2fx) |", prec, v, v / base);
			else if (v >= 0)
				fprintf(out, " %.*f |", prec, v);
			else
				fputs(" n/a |", out);
		}
		fputc('\n', out);
	}
}

/* The same figures as the table, for programs: each target's means and
 * their ratios to the first target's. */
static int write_json(const struct cmp *c, enum bench_scenario s, const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		log_error("%s: %s", path, strerror(errno));
		return -errno;
	}
	fprintf(f, "{\"scenario\": \"%s\", \"rounds\": %u, \"targets\": [",
		bench_scenario_names[s], c->rounds);
	for (unsigned i = 0; i < c->nt; i++) {
		const struct target *t = &c->t[i];
		fprintf(f, "%s\n  {\"name\": ", i ? "," : "");
		report_json_str(f, t->name);
		fputs(", \"host\": ", f);
		report_json_str(f, t->host);
		fprintf(f, ", \"port\": %d, \"runs\": %u, \"figures\": {", t->port, c->runs[i]);
		for (int k = 0, n = 0; k < F_COUNT; k++)
			if (fig_applies(s, k))
				fprintf(f, "%s\"%s\": %.6g", n++ ? ", " : "", fig_keys[k], mean(c, i, k));
		fputs("}, \"ratio_to_first\": {", f);
		for (int k = 0, n = 0; k < F_COUNT; k++) {
			if (!fig_applies(s, k))
				continue;
			double b = mean(c, 0, k), v = mean(c, i, k);
			if (b > 0 && v >= 0)
				fprintf(f, "%s\"%s\": %.6g", n++ ? ", " : "", fig_keys[k], v / b);
		}
		fputs("}}", f);
	}
	fputs("\n]}\n", f);
	return fclose(f) ? -EIO : 0;
}

static int write_table(const struct cmp *c, enum bench_scenario s, const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		log_error("%s: %s", path, strerror(errno));
		return -errno;
	}
	print_table(c, s, f);
	return fclose(f) ? -EIO : 0;
}

int compare_main(int argc, char **argv)
{
	static struct cmp c;
	struct bench_opts o;
	opts_defaults(&o);
	c.rounds = 1;
	if (argc < 2 || opts_scenario(argv[1], &o) ||
	    (optind = 2, opts_parse(&o, argc, argv, extra_opt, &c)) || c.nt < 2) {
		opts_usage(stderr);
		fputs("compare needs a scenario and at least two --target NAME=HOST:PORT[:PIDS]\n",
		      stderr);
		return 2;
	}
	int bad = 0;
	for (unsigned round = 0; round < c.rounds && !bench_interrupted; round++)
		for (unsigned i = 0; i < c.nt && !bench_interrupted; i++)
			if (run_one(&c, i, &o))
				bad = 1;
	print_table(&c, o.scenario, stdout);
	if ((o.json && write_json(&c, o.scenario, o.json)) ||
	    (c.table && write_table(&c, o.scenario, c.table)))
		bad = 1;
	for (unsigned i = 0; i < c.nt; i++)
		bad |= c.runs[i] != c.rounds || c.fig[i][F_ERRORS] > 0;
	return bad ? 1 : 0;
}
