/* report: the server's memory from /proc, the progress line, the human table
 * and the JSON result file. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "lib/log.h"
#include "bench.h"

static const char *const scenario_names[] = { [BENCH_LOGIN] = "login", [BENCH_IDLE] = "idle",
					       [BENCH_CHAT] = "chat" };
static const char *const mech_names[] = { [BENCH_PLAIN] = "PLAIN",
	[BENCH_SCRAM_SHA1] = "SCRAM-SHA-1", [BENCH_SCRAM_SHA256] = "SCRAM-SHA-256" };
static const double pcts[] = { 50, 90, 99, 99.9 };
static const char *const pct_names[] = { "p50", "p90", "p99", "p99_9" };

static long rss_of(int pid)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	if (!f) {
		log_error("%s: %s", path, strerror(errno));
		return -1;
	}
	long kib = -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

long report_rss_kib(const struct bench_opts *o)
{
	long sum = 0;
	for (unsigned i = 0; i < o->npids; i++) {
		long k = rss_of(o->pids[i]);
		if (k < 0)
			return -1;
		sum += k;
	}
	return o->npids ? sum : -1;
}

static double secs(uint64_t ns)
{
	return (double)ns / 1e9;
}

static double login_rate(const struct bench_run *r)
{
	uint64_t span = r->last_login_ns > r->t0 ? r->last_login_ns - r->t0 : 0;
	return span ? (double)r->online / secs(span) : 0.0;
}

static double chat_rate(const struct bench_run *r)
{
	return r->chat_s > 0 ? (double)r->msgs_recv / r->chat_s : 0.0;
}

void report_progress(const struct bench_run *r, uint64_t now)
{
	fprintf(stderr, "[%6.1fs] started %u/%u online %u failed %u dropped %u", secs(now - r->t0),
		r->started, r->opt.n, r->online, r->failed, r->dropped);
	if (r->opt.scenario == BENCH_CHAT)
		fprintf(stderr, " | msgs sent %" PRIu64 " received %" PRIu64, r->msgs_sent,
			r->msgs_recv);
	fputc('\n', stderr);
}

static void table_hist(const char *what, const struct hist *h)
{
	printf("%-22s count %" PRIu64 "  mean %.3f ms\n", what, h->count, hist_mean(h) / 1e6);
	printf("%-22s", "");
	for (size_t i = 0; i < sizeof pcts / sizeof pcts[0]; i++)
		printf(" %s %.3f ms ", pct_names[i], (double)hist_percentile(h, pcts[i]) / 1e6);
	printf(" max %.3f ms\n", h->count ? (double)h->max / 1e6 : 0.0);
}

void report_table(const struct bench_run *r)
{
	const struct bench_opts *o = &r->opt;
	printf("scenario %s: n=%u mech=%s %s %s:%d\n", scenario_names[o->scenario], o->n,
	       mech_names[o->mech], o->direct_tls ? "direct-tls" : "starttls", o->host, o->port);
	printf("%-22s %u of %u (failed %u, dropped later %u)\n", "logins", r->online, o->n,
	       r->failed, r->dropped);
	printf("%-22s %.1f/s (target %.1f/s)\n", "login rate", login_rate(r),
	       o->scenario == BENCH_CHAT ? o->login_rate : o->rate);
	for (int i = 0; i < FAIL_NCAUSES; i++)
		if (r->fail[i])
			printf("%-22s %s: %u\n", "login failures", bench_fail_names[i], r->fail[i]);
	table_hist("login latency", &r->login_lat);
	if (o->scenario == BENCH_IDLE) {
		printf("%-22s before %ld KiB, at N %ld KiB, held %.1f s\n", "server RSS",
		       r->rss_before_kib, r->rss_at_n_kib, r->hold_s);
		if (r->rss_before_kib >= 0 && r->rss_at_n_kib >= 0 && r->online)
			printf("%-22s %.2f KiB\n", "per connection",
			       (double)(r->rss_at_n_kib - r->rss_before_kib) / r->online);
	}
	if (o->scenario == BENCH_CHAT) {
		printf("%-22s %u pairs at %.1f msgs/s each for %.1f s\n", "chat", o->n / 2, o->rate,
		       r->chat_s);
		printf("%-22s sent %" PRIu64 " delivered %" PRIu64 " lost %" PRIu64
		       " malformed %" PRIu64 "\n", "messages", r->msgs_sent, r->msgs_recv,
		       r->msgs_sent - (r->msgs_recv < r->msgs_sent ? r->msgs_recv : r->msgs_sent),
		       r->msgs_bad);
		printf("%-22s %.1f msgs/s\n", "delivered rate", chat_rate(r));
		table_hist("message latency", &r->msg_lat);
	}
}

static void json_hist(FILE *f, const char *name, const struct hist *h)
{
	fprintf(f, "  \"%s\": {\"count\": %" PRIu64 ", \"mean_ms\": %.6f", name, h->count,
		hist_mean(h) / 1e6);
	for (size_t i = 0; i < sizeof pcts / sizeof pcts[0]; i++)
		fprintf(f, ", \"%s_ms\": %.6f", pct_names[i],
			(double)hist_percentile(h, pcts[i]) / 1e6);
	fprintf(f, ", \"min_ms\": %.6f, \"max_ms\": %.6f, \"rel_error\": %.6f}",
		h->count ? (double)h->min / 1e6 : 0.0, h->count ? (double)h->max / 1e6 : 0.0,
		HIST_REL_ERR);
}

/* Strings in the settings come from the command line: escape for JSON. */
static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void json_settings(FILE *f, const struct bench_opts *o)
{
	fprintf(f, "  \"settings\": {\"scenario\": \"%s\", \"n\": %u, \"rate\": %g, "
		"\"login_rate\": %g, \"hold_s\": %g, \"duration_s\": %g, \"timeout_s\": %g, "
		"\"mech\": \"%s\", \"direct_tls\": %s, \"port\": %d, \"first\": %d, \"host\": ",
		scenario_names[o->scenario], o->n, o->rate, o->login_rate, o->hold, o->duration,
		o->timeout, mech_names[o->mech], o->direct_tls ? "true" : "false", o->port,
		o->first);
	json_str(f, o->host);
	fputs(", \"domain\": ", f);
	json_str(f, o->domain);
	fputs(", \"user\": ", f);
	json_str(f, o->user_pat);
	fputs(", \"pids\": [", f);
	for (unsigned i = 0; i < o->npids; i++)
		fprintf(f, "%s%d", i ? ", " : "", o->pids[i]);
	fputs("]},\n", f);
}

static void json_login(FILE *f, const struct bench_run *r)
{
	fprintf(f, "  \"login\": {\"attempted\": %u, \"ok\": %u, \"failed\": %u, "
		"\"dropped\": %u, \"rate_per_s\": %.3f, \"failures\": {", r->started, r->online,
		r->failed, r->dropped, login_rate(r));
	for (int i = 0; i < FAIL_NCAUSES; i++)
		fprintf(f, "%s\"%s\": %u", i ? ", " : "", bench_fail_names[i], r->fail[i]);
	fputs("}},\n", f);
	json_hist(f, "login_latency", &r->login_lat);
	fputs(",\n", f);
}

static void json_scenario(FILE *f, const struct bench_run *r)
{
	if (r->opt.scenario == BENCH_IDLE) {
		double per = r->rss_before_kib >= 0 && r->rss_at_n_kib >= 0 && r->online
			? (double)(r->rss_at_n_kib - r->rss_before_kib) / r->online : -1.0;
		fprintf(f, "  \"idle\": {\"held_s\": %.3f, \"rss_before_kib\": %ld, "
			"\"rss_at_n_kib\": %ld, \"kib_per_conn\": %.3f},\n", r->hold_s,
			r->rss_before_kib, r->rss_at_n_kib, per);
	}
	if (r->opt.scenario == BENCH_CHAT) {
		uint64_t lost = r->msgs_sent > r->msgs_recv ? r->msgs_sent - r->msgs_recv : 0;
		fprintf(f, "  \"chat\": {\"pairs\": %u, \"sent\": %" PRIu64 ", \"delivered\": %"
			PRIu64 ", \"lost\": %" PRIu64 ", \"malformed\": %" PRIu64 ", "
			"\"duration_s\": %.3f, \"delivered_per_s\": %.3f},\n", r->opt.n / 2,
			r->msgs_sent, r->msgs_recv, lost, r->msgs_bad, r->chat_s, chat_rate(r));
		json_hist(f, "message_latency", &r->msg_lat);
		fputs(",\n", f);
	}
}

int report_errors(const struct bench_run *r)
{
	uint64_t lost = r->msgs_sent > r->msgs_recv ? r->msgs_sent - r->msgs_recv : 0;
	return r->failed + r->dropped + (r->online < r->opt.n) + (lost > 0) + (r->msgs_bad > 0)
		+ r->aborted ? 1 : 0;
}

int report_json(const struct bench_run *r, const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		log_error("%s: %s", path, strerror(errno));
		return -errno;
	}
	fputs("{\n", f);
	json_settings(f, &r->opt);
	json_login(f, r);
	json_scenario(f, r);
	fprintf(f, "  \"errors\": %u,\n  \"ok\": %s\n}\n", r->failed + r->dropped,
		report_errors(r) ? "false" : "true");
	if (fclose(f)) {
		log_error("%s: %s", path, strerror(errno));
		return -EIO;
	}
	return 0;
}
