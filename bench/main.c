/* starling-bench: open-loop XMPP load generator (issue 3, first step).
 * Scenarios: login, idle, chat; see docs/bench.md. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "lib/log.h"
#include "bench.h"

#define NS 1000000000ull
#define MAX_WAIT_NS (50ull * 1000000) /* loop wakes at least this often */

static volatile sig_atomic_t interrupted;

uint64_t bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void usage(FILE *f)
{
	fputs("usage: starling-bench login|idle|chat [options]\n"
	      "  -n N             connections (users), default 100 (chat: even)\n"
	      "  --rate R         login/idle: logins/s; chat: messages/s per pair (default 100/10)\n"
	      "  --login-rate R   chat: logins/s while setting up (default 200)\n"
	      "  --hold S         idle: seconds to hold the sessions (default 5)\n"
	      "  --duration S     chat: seconds of sending (default 10)\n"
	      "  --timeout S      seconds for one login, and chat's drain wait (default 30)\n"
	      "  --host A --port P  server (default 127.0.0.1:5222)\n"
	      "  --domain D       XMPP domain (default localhost)\n"
	      "  --user PAT       account pattern with one %d (default user%d)\n"
	      "  --first K        number of the first account (default 1)\n"
	      "  --password PW    password of every account (default secret)\n"
	      "  --mech M         PLAIN, SCRAM-SHA-1 or SCRAM-SHA-256 (default)\n"
	      "  --direct-tls     TLS from the first byte (XEP-0368) instead of STARTTLS\n"
	      "  --cafile F       verify the server certificate against F\n"
	      "  --pids P,P       server PIDs whose VmRSS the idle scenario sums\n"
	      "  --json FILE      write every figure and setting as JSON\n"
	      "  -v               debug log\n", f);
}

/* The pattern goes to snprintf: allow exactly one %d and %% escapes. */
static int check_pattern(const char *p)
{
	int conv = 0;
	for (; *p; p++) {
		if (*p != '%')
			continue;
		if (p[1] == '%') {
			p++;
			continue;
		}
		if (p[1] != 'd')
			return -EINVAL;
		conv++;
	}
	return conv == 1 ? 0 : -EINVAL;
}

static int parse_pids(struct bench_opts *o, const char *s)
{
	char *end;
	while (*s) {
		long v = strtol(s, &end, 10);
		if (end == s || v <= 0 || v > 1 << 30 || o->npids >= 16)
			return -EINVAL;
		o->pids[o->npids++] = (int)v;
		s = *end == ',' ? end + 1 : end;
		if (*end && *end != ',')
			return -EINVAL;
	}
	return 0;
}

static int parse_num(const char *s, double lo, double hi, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= lo && v <= hi))
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_mech(const char *s, enum bench_mech *m)
{
	if (!strcmp(s, "PLAIN"))
		*m = BENCH_PLAIN;
	else if (!strcmp(s, "SCRAM-SHA-1"))
		*m = BENCH_SCRAM_SHA1;
	else if (!strcmp(s, "SCRAM-SHA-256"))
		*m = BENCH_SCRAM_SHA256;
	else
		return -EINVAL;
	return 0;
}

static int parse_opt(struct bench_opts *o, int ch, const char *arg)
{
	double v;
	switch (ch) {
	case 'n': if (parse_num(arg, 1, 1000000, &v)) return -EINVAL; o->n = (unsigned)v; return 0;
	case 'r': return parse_num(arg, 0.001, 1e7, &o->rate);
	case 'L': return parse_num(arg, 0.001, 1e7, &o->login_rate);
	case 'H': return parse_num(arg, 0, 1e6, &o->hold);
	case 'D': return parse_num(arg, 0.001, 1e6, &o->duration);
	case 'T': return parse_num(arg, 0.1, 1e5, &o->timeout);
	case 'h': o->host = arg; return 0;
	case 'p': if (parse_num(arg, 1, 65535, &v)) return -EINVAL; o->port = (int)v; return 0;
	case 'd': o->domain = arg; return 0;
	case 'u': o->user_pat = arg; return check_pattern(arg);
	case 'f': if (parse_num(arg, 0, 1e9, &v)) return -EINVAL; o->first = (int)v; return 0;
	case 'P': o->password = arg; return 0;
	case 'm': return parse_mech(arg, &o->mech);
	case 't': o->direct_tls = 1; return 0;
	case 'c': o->ca_file = arg; return 0;
	case 'i': return parse_pids(o, arg);
	case 'j': o->json = arg; return 0;
	case 'v': log_init("starling-bench", LOG_LEVEL_DEBUG); return 0;
	}
	return -EINVAL;
}

static int parse_args(struct bench_opts *o, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "rate", 1, 0, 'r' }, { "login-rate", 1, 0, 'L' }, { "hold", 1, 0, 'H' },
		{ "duration", 1, 0, 'D' }, { "timeout", 1, 0, 'T' }, { "host", 1, 0, 'h' },
		{ "port", 1, 0, 'p' }, { "domain", 1, 0, 'd' }, { "user", 1, 0, 'u' },
		{ "first", 1, 0, 'f' }, { "password", 1, 0, 'P' }, { "mech", 1, 0, 'm' },
		{ "direct-tls", 0, 0, 't' }, { "cafile", 1, 0, 'c' }, { "pids", 1, 0, 'i' },
		{ "json", 1, 0, 'j' }, { 0, 0, 0, 0 } };
	if (argc < 2)
		return -EINVAL;
	if (!strcmp(argv[1], "login"))
		o->scenario = BENCH_LOGIN;
	else if (!strcmp(argv[1], "idle"))
		o->scenario = BENCH_IDLE;
	else if (!strcmp(argv[1], "chat"))
		o->scenario = BENCH_CHAT, o->rate = 10;
	else
		return -EINVAL;
	optind = 2;
	int ch;
	while ((ch = getopt_long(argc, argv, "n:v", lo, NULL)) != -1) {
		if (parse_opt(o, ch, optarg)) {
			fprintf(stderr, "starling-bench: bad option -%c %s\n", ch, optarg ? optarg : "");
			return -EINVAL;
		}
	}
	if (optind != argc || (o->scenario == BENCH_CHAT && (o->n < 2 || o->n % 2)))
		return -EINVAL;
	return 0;
}

/* Tens of thousands of sockets need more than the usual 1024 descriptors. */
static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl)) {
		log_warn("getrlimit: %s", strerror(errno));
		return;
	}
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		log_warn("setrlimit(NOFILE, %lu): %s", (unsigned long)rl.rlim_max, strerror(errno));
}

/* Start the logins whose intended time has come (open loop: the schedule
 * does not wait for earlier logins).  Returns the next start time, or 0. */
static uint64_t start_due(struct bench_run *r, double rate, uint64_t now)
{
	while (r->started < r->opt.n) {
		uint64_t due = r->t0 + (uint64_t)((double)r->started * (double)NS / rate);
		if (due > now)
			return due;
		struct bench_conn *c = &r->conns[r->started];
		c->start_ns = due;
		c->want_presence = r->opt.scenario != BENCH_LOGIN;
		net_start(r, c);
		net_flush(r, c);
	}
	return 0;
}

static void expire_logins(struct bench_run *r, uint64_t now)
{
	uint64_t limit = (uint64_t)(r->opt.timeout * (double)NS);
	for (unsigned i = 0; i < r->started; i++) {
		struct bench_conn *c = &r->conns[i];
		if (c->state != CS_DEAD && c->state != CS_ONLINE && now - c->start_ns > limit) {
			xmpp_fail(r, c, FAIL_TIMEOUT, "login timeout");
			net_close(r, c);
		}
	}
}

/* Chat: pair k is conns[2k] -> conns[2k+1].  Sends every message whose
 * intended time has passed, stamped with that time; returns the next one. */
static uint64_t send_due(struct bench_run *r, uint64_t now)
{
	uint64_t next = 0, interval = (uint64_t)((double)NS / r->opt.rate);
	for (unsigned k = 0; k + 1 < r->opt.n; k += 2) {
		struct bench_conn *a = &r->conns[k], *b = &r->conns[k + 1];
		while (a->state == CS_ONLINE && b->state == CS_ONLINE &&
		       a->next_send_ns <= now && a->next_send_ns < r->chat_end) {
			if (xmpp_send_chat(r, a, b, a->next_send_ns))
				break;
			r->msgs_sent++;
			a->next_send_ns += interval;
		}
		net_flush(r, a);
		if (a->state == CS_ONLINE && a->next_send_ns < r->chat_end &&
		    (!next || a->next_send_ns < next))
			next = a->next_send_ns;
	}
	return next;
}

static void chat_begin(struct bench_run *r, uint64_t now)
{
	uint64_t interval = (uint64_t)((double)NS / r->opt.rate), pairs = r->opt.n / 2;
	r->sending = 1;
	r->chat_start = now;
	r->chat_end = now + (uint64_t)(r->opt.duration * (double)NS);
	/* spread the pairs over one interval so the load is smooth */
	for (unsigned k = 0; k + 1 < r->opt.n; k += 2)
		r->conns[k].next_send_ns = now + interval * (k / 2) / pairs;
}

enum phase { PH_LOGIN, PH_HOLD, PH_CHAT, PH_DRAIN, PH_DONE };

/* All logins settled (bound or failed): move to the scenario's next phase. */
static enum phase after_login(struct bench_run *r, uint64_t now, uint64_t *phase_end)
{
	if (r->opt.scenario == BENCH_IDLE) {
		*phase_end = now + (uint64_t)(r->opt.hold * (double)NS);
		return PH_HOLD;
	}
	if (r->opt.scenario == BENCH_CHAT) {
		chat_begin(r, now);
		return PH_CHAT;
	}
	return PH_DONE;
}

static enum phase step(struct bench_run *r, enum phase ph, uint64_t now, uint64_t *next,
		       uint64_t *phase_end)
{
	static uint64_t next_expire;
	uint64_t d;
	switch (ph) {
	case PH_LOGIN:
		d = start_due(r, r->opt.scenario == BENCH_CHAT ? r->opt.login_rate : r->opt.rate,
			      now);
		if (d && d < *next)
			*next = d;
		if (now >= next_expire) {
			expire_logins(r, now);
			next_expire = now + NS / 10;
		}
		if (r->started == r->opt.n && r->online + r->failed == r->opt.n)
			return after_login(r, now, phase_end);
		return ph;
	case PH_HOLD:
		if (now < *phase_end)
			return ph;
		r->rss_at_n_kib = report_rss_kib(&r->opt);
		r->hold_s = r->opt.hold;
		return PH_DONE;
	case PH_CHAT:
		d = send_due(r, now);
		if (d && d < *next)
			*next = d;
		if (now < r->chat_end)
			return ph;
		r->sending = 0;
		r->chat_s = r->opt.duration;
		*phase_end = now + (uint64_t)(r->opt.timeout * (double)NS);
		return PH_DRAIN;
	case PH_DRAIN:
		return r->msgs_recv >= r->msgs_sent || now >= *phase_end ? PH_DONE : ph;
	default:
		return PH_DONE;
	}
}

static double planned_s(const struct bench_opts *o)
{
	double login = o->n / (o->scenario == BENCH_CHAT ? o->login_rate : o->rate);
	return login + (o->scenario == BENCH_IDLE ? o->hold : 0) +
	       (o->scenario == BENCH_CHAT ? o->duration : 0);
}

static int run(struct bench_run *r)
{
	enum phase ph = PH_LOGIN;
	uint64_t phase_end = 0, next_tick;
	int progress = planned_s(&r->opt) > 2.0;
	r->t0 = bench_now();
	next_tick = r->t0 + NS;
	while (ph != PH_DONE) {
		if (interrupted) {
			r->aborted = 1;
			break;
		}
		uint64_t now = bench_now(), next = now + MAX_WAIT_NS;
		ph = step(r, ph, now, &next, &phase_end);
		if (now >= next_tick) {
			if (progress)
				report_progress(r, now);
			next_tick += NS;
		}
		if (ph == PH_DONE)
			break;
		int rc = net_wait(r, next > now ? next - now : 0);
		if (rc) {
			log_error("io_uring wait: %s", strerror(-rc));
			return rc;
		}
	}
	return 0;
}

static int setup(struct bench_run *r)
{
	char err[256];
	r->addr.sin_family = AF_INET;
	r->addr.sin_port = htons((uint16_t)r->opt.port);
	if (inet_pton(AF_INET, r->opt.host, &r->addr.sin_addr) != 1) {
		log_error("--host %s: not an IPv4 address", r->opt.host);
		return -EINVAL;
	}
	r->ctx = tls_client_ctx(r->opt.ca_file, err, sizeof err);
	if (!r->ctx) {
		log_error("TLS context: %s", err);
		return -EINVAL;
	}
	r->conns = calloc(r->opt.n, sizeof *r->conns); /* freed in teardown() */
	if (!r->conns)
		return -ENOMEM;
	for (unsigned i = 0; i < r->opt.n; i++) {
		r->conns[i].fd = -1;
		r->conns[i].idx = i;
	}
	hist_init(&r->login_lat);
	hist_init(&r->msg_lat);
	r->rss_before_kib = r->rss_at_n_kib = -1;
	return net_init(r);
}

static void teardown(struct bench_run *r)
{
	for (unsigned i = 0; r->conns && i < r->opt.n; i++) {
		struct bench_conn *c = &r->conns[i];
		if (c->fd >= 0) {
			xmpp_close(c);
			net_flush(r, c);
			net_close(r, c);
		}
		xmpp_free(c);
	}
	free(r->conns);
	SSL_CTX_free(r->ctx);
}

int main(int argc, char **argv)
{
	log_init("starling-bench", LOG_LEVEL_WARN);
	struct bench_run *r = calloc(1, sizeof *r); /* freed at the end of main */
	if (!r)
		return 2;
	r->opt = (struct bench_opts){ .host = "127.0.0.1", .port = 5222, .domain = "localhost",
		.user_pat = "user%d", .password = "secret", .resource = "bench", .first = 1,
		.n = 100, .rate = 100, .login_rate = 200, .hold = 5, .duration = 10,
		.timeout = 30, .mech = BENCH_SCRAM_SHA256 };
	if (parse_args(&r->opt, argc, argv)) {
		usage(stderr);
		free(r);
		return 2;
	}
	raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	int rc = setup(r);
	if (!rc && r->opt.scenario == BENCH_IDLE)
		r->rss_before_kib = report_rss_kib(&r->opt);
	if (!rc)
		rc = run(r);
	if (!rc) {
		report_table(r);
		if (r->opt.json)
			rc = report_json(r, r->opt.json);
	}
	teardown(r);
	if (r->ring.ring_fd > 0)
		net_exit(r);
	int bad = rc || report_errors(r);
	free(r);
	return bad ? 1 : 0;
}
