/* opts: the command line of the scenarios (and of compare, which adds its
 * own options through a callback). */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "bench.h"

const char *const bench_scenario_names[] = { [BENCH_LOGIN] = "login", [BENCH_IDLE] = "idle",
	[BENCH_CHAT] = "chat", [BENCH_PRESENCE] = "presence", [BENCH_PEP] = "pep" };
const char *const bench_mech_names[] = { [BENCH_PLAIN] = "PLAIN",
	[BENCH_SCRAM_SHA1] = "SCRAM-SHA-1", [BENCH_SCRAM_SHA256] = "SCRAM-SHA-256" };

void opts_usage(FILE *f)
{
	fputs("usage: starling-bench login|idle|chat|presence|pep [options]\n"
	      "       starling-bench compare SCENARIO --target NAME=HOST:PORT[:PID+PID..] ...\n"
	      "                      [--rounds R] [--table FILE.md] [options]\n"
	      "       starling-bench provision (see docs/bench.md)\n"
	      "  -n N             connections (users), default 100 (chat: even)\n"
	      "  --rate R         login/idle: logins/s; chat: msgs/s per pair (default 10);\n"
	      "                   presence: presence updates/s per user (default 1);\n"
	      "                   pep: items published/s per user (default 1)\n"
	      "  --login-rate R   chat/presence/pep: logins/s while setting up (default 200)\n"
	      "  --concurrency C  at most C logins in progress; a finished login starts the next\n"
	      "                   (closed loop: latency from the actual start; --rate still caps)\n"
	      "  --hold S         idle: seconds to hold the sessions (default 5)\n"
	      "  --duration S     chat/presence/pep: seconds of sending, per step (default 10)\n"
	      "  --step F         chat/presence/pep: after a passing step multiply the rate by F\n"
	      "  --max-rate R     stop stepping above this rate (default 1e6)\n"
	      "  --p99-bound MS   a step whose p99 latency passes MS fails (default 5)\n"
	      "  --retry N        run a step that failed on its p99 alone (all delivered) up to\n"
	      "                   N more times before stepping stops (default 0): one stall\n"
	      "                   of a shared host should not decide the sustained rate\n"
	      "  --contacts K     presence/pep: mutual contacts per user, as provisioned\n"
	      "  --timeout S      seconds for one login, and the final drain wait (default 30)\n"
	      "  --host H --port P  server: address or name, IPv4 or IPv6 (default 127.0.0.1:5222)\n"
	      "  --port P,P,..    several ports (cms): connection i goes to the (i mod k)-th\n"
	      "  --source-addrs K spread connections over source addresses 127.0.0.1..K\n"
	      "  --threads T      T worker threads, one io_uring each (default 1)\n"
	      "  --domain D       XMPP domain (default localhost)\n"
	      "  --user PAT       account pattern with one %d (default user%d)\n"
	      "  --first K        number of the first account (default 1)\n"
	      "  --password PW    password of every account (default secret)\n"
	      "  --mech M         PLAIN, SCRAM-SHA-1 or SCRAM-SHA-256 (default)\n"
	      "  --direct-tls     TLS from the first byte (XEP-0368) instead of STARTTLS\n"
	      "  --sasl2          log in with SASL2 and Bind 2 inline (XEP-0388, XEP-0386): no\n"
	      "                   stream restart, no bind round trip\n"
	      "  --no-roster      skip the roster get in the login\n"
	      "  --openssl-records keep OpenSSL for the whole connection instead of the lean\n"
	      "                   TLS 1.3 record layer after the handshake (+17 KB/conn)\n"
	      "  --no-ping        idle: skip the XEP-0199 ping of each held session\n"
	      "  --faults         chat: account for every message across server faults: a lost\n"
	      "                   session logs in again (backoff), each message's number is\n"
	      "                   checked (duplicates, bounces), receivers log in afresh at the\n"
	      "                   end for offline storage; fails when a message is missing\n"
	      "  --cafile F       verify the server certificate against F\n"
	      "  --pids P,P       server PIDs: memory (idle) and CPU per login/message\n"
	      "  --json FILE      write every figure, the settings and a per-second series\n"
	      "  -v               debug log\n", f);
}

void opts_defaults(struct bench_opts *o)
{
	*o = (struct bench_opts){ .host = "127.0.0.1", .port = 5222, .domain = "localhost",
		.user_pat = "user%d", .password = "secret", .resource = "bench", .first = 1,
		.n = 100, .rate = 100, .login_rate = 200, .hold = 5, .duration = 10,
		.timeout = 30, .max_rate = 1e6, .p99_bound_ms = 5, .src_addrs = 1,
		.mech = BENCH_SCRAM_SHA256, .roster = 1, .ping = 1, .threads = 1 };
}

int opts_scenario(const char *name, struct bench_opts *o)
{
	for (int s = BENCH_LOGIN; s <= BENCH_PEP; s++) {
		if (strcmp(name, bench_scenario_names[s]))
			continue;
		o->scenario = (enum bench_scenario)s;
		if (s == BENCH_CHAT)
			o->rate = 10;
		if (s == BENCH_PRESENCE || s == BENCH_PEP)
			o->rate = 1;
		return 0;
	}
	return -EINVAL;
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

int opts_pids(struct bench_opts *o, const char *s)
{
	char *end;
	o->npids = 0;
	while (*s) {
		long v = strtol(s, &end, 10);
		if (end == s || v <= 0 || v > 1 << 30 || o->npids >= BENCH_MAX_PIDS)
			return -EINVAL;
		o->pids[o->npids++] = (int)v;
		if (*end && *end != ',' && *end != '+')
			return -EINVAL;
		s = *end ? end + 1 : end;
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

static int parse_uint(const char *s, double lo, double hi, unsigned *out)
{
	double v;
	if (parse_num(s, lo, hi, &v) || v != (double)(unsigned)v)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

/* --port P or P,P,..: with several, connection i goes to the (i mod k)-th
 * (chat with two: senders to the first, receivers to the second, as when
 * each side has its own cm). */
static int parse_ports(struct bench_opts *o, const char *s)
{
	char *end;
	o->nports = 0;
	do {
		long v = strtol(s, &end, 10);
		if (end == s || v < 1 || v > 65535 || o->nports >= BENCH_MAX_PORTS ||
		    (*end && *end != ','))
			return -EINVAL;
		o->ports[o->nports++] = (int)v;
		s = end + (*end == ',');
	} while (*end);
	o->port = o->ports[0];
	if (o->nports == 1)
		o->nports = 0; /* one port: as before */
	return 0;
}

static int parse_mech(const char *s, enum bench_mech *m)
{
	for (int i = BENCH_PLAIN; i <= BENCH_SCRAM_SHA256; i++) {
		if (!strcmp(s, bench_mech_names[i])) {
			*m = (enum bench_mech)i;
			return 0;
		}
	}
	return -EINVAL;
}

static int parse_opt(struct bench_opts *o, int ch, const char *arg)
{
	unsigned u;
	switch (ch) {
	case 'n': return parse_uint(arg, 1, 1000000, &o->n);
	case 'r': return parse_num(arg, 0.001, 1e7, &o->rate);
	case 'L': return parse_num(arg, 0.001, 1e7, &o->login_rate);
	case 'H': return parse_num(arg, 0, 1e6, &o->hold);
	case 'D': return parse_num(arg, 0.001, 1e6, &o->duration);
	case 'T': return parse_num(arg, 0.1, 1e5, &o->timeout);
	case 'S': return parse_num(arg, 1.01, 100, &o->step);
	case 'M': return parse_num(arg, 0.001, 1e9, &o->max_rate);
	case 'B': return parse_num(arg, 0.001, 1e6, &o->p99_bound_ms);
	case 'Y': return parse_uint(arg, 0, 10, &o->retries);
	case 'K': return parse_uint(arg, 0, 100000, &o->contacts);
	case 'A': return parse_uint(arg, 1, 254, &o->src_addrs);
	case 'C': return parse_uint(arg, 1, 1000000, &o->concurrency);
	case 'N': return parse_uint(arg, 1, 64, &o->threads);
	case 'h': o->host = arg; return 0;
	case 'p': return parse_ports(o, arg);
	case 'd': o->domain = arg; return 0;
	case 'u': o->user_pat = arg; return check_pattern(arg);
	case 'f': if (parse_uint(arg, 0, 1e9, &u)) return -EINVAL; o->first = (int)u; return 0;
	case 'P': o->password = arg; return 0;
	case 'm': return parse_mech(arg, &o->mech);
	case 't': o->direct_tls = 1; return 0;
	case '2': o->sasl2 = 1; return 0;
	case 'o': o->roster = 0; return 0;
	case 'g': o->ping = 0; return 0;
	case 'O': o->openssl_records = 1; return 0;
	case 'F': o->faults = 1; return 0;
	case 'c': o->ca_file = arg; return 0;
	case 'i': return opts_pids(o, arg);
	case 'j': o->json = arg; return 0;
	case 'v': log_init("starling-bench", LOG_LEVEL_DEBUG); return 0;
	}
	return -EINVAL;
}

static int check_opts(const struct bench_opts *o)
{
	if (o->scenario == BENCH_CHAT && (o->n < 2 || o->n % 2)) {
		fprintf(stderr, "starling-bench: chat needs an even -n of at least 2\n");
		return -EINVAL;
	}
	if (o->faults && o->scenario != BENCH_CHAT) {
		fprintf(stderr, "starling-bench: --faults is for chat\n");
		return -EINVAL;
	}
	/* pep without contacts still notifies the publisher's own session */
	if ((o->scenario == BENCH_PRESENCE && !o->contacts) ||
	    (o->scenario >= BENCH_PRESENCE && (o->contacts % 2 || o->contacts >= o->n))) {
		fprintf(stderr, "starling-bench: %s needs an even --contacts K < n%s\n",
			bench_scenario_names[o->scenario],
			o->scenario == BENCH_PEP ? "" : ", K > 0");
		return -EINVAL;
	}
	return 0;
}

int opts_parse(struct bench_opts *o, int argc, char **argv,
	       int (*extra)(void *ctx, int ch, const char *arg), void *ctx)
{
	static const struct option lo[] = {
		{ "rate", 1, 0, 'r' }, { "login-rate", 1, 0, 'L' }, { "hold", 1, 0, 'H' },
		{ "duration", 1, 0, 'D' }, { "timeout", 1, 0, 'T' }, { "host", 1, 0, 'h' },
		{ "port", 1, 0, 'p' }, { "domain", 1, 0, 'd' }, { "user", 1, 0, 'u' },
		{ "first", 1, 0, 'f' }, { "password", 1, 0, 'P' }, { "mech", 1, 0, 'm' },
		{ "direct-tls", 0, 0, 't' }, { "cafile", 1, 0, 'c' }, { "pids", 1, 0, 'i' },
		{ "json", 1, 0, 'j' }, { "step", 1, 0, 'S' }, { "max-rate", 1, 0, 'M' },
		{ "p99-bound", 1, 0, 'B' }, { "retry", 1, 0, 'Y' }, { "contacts", 1, 0, 'K' },
		{ "source-addrs", 1, 0, 'A' }, { "no-roster", 0, 0, 'o' },
		{ "no-ping", 0, 0, 'g' }, { "concurrency", 1, 0, 'C' },
		{ "threads", 1, 0, 'N' }, { "target", 1, 0, 'X' }, { "rounds", 1, 0, 'R' },
		{ "table", 1, 0, 'W' }, { "openssl-records", 0, 0, 'O' }, { "faults", 0, 0, 'F' },
		{ "sasl2", 0, 0, '2' },
		{ 0, 0, 0, 0 } };
	int ch;
	while ((ch = getopt_long(argc, argv, "n:v", lo, NULL)) != -1) {
		int took = extra ? extra(ctx, ch, optarg) : 0;
		if (took == 1)
			continue;
		if (took < 0 || parse_opt(o, ch, optarg)) {
			if (ch != '?')
				fprintf(stderr, "starling-bench: bad value for option: %s\n",
					optarg ? optarg : "");
			return -EINVAL;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "starling-bench: unexpected argument %s\n", argv[optind]);
		return -EINVAL;
	}
	return check_opts(o);
}
