/* starling-bench: open-loop XMPP load generator (issue 3).
 * Scenarios login, idle, chat, presence, pep; compare and provision subcommands;
 * see docs/bench.md. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <getopt.h>

#include "lib/log.h"
#include "bench.h"
#include "provision.h"

#define NS 1000000000ull

uint64_t bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

static void on_signal(int sig)
{
	(void)sig;
	bench_interrupted = 1;
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

static int scenario_main(int argc, char **argv)
{
	struct bench_run *r = calloc(1, sizeof *r); /* freed at the end */
	if (!r)
		return 2;
	opts_defaults(&r->opt);
	if (opts_scenario(argv[1], &r->opt) ||
	    (optind = 2, opts_parse(&r->opt, argc, argv, NULL, NULL))) {
		opts_usage(stderr);
		free(r);
		return 2;
	}
	int rc = bench_setup(r);
	if (!rc)
		rc = bench_run(r);
	if (!rc) {
		report_table(r);
		if (r->opt.json)
			rc = report_json(r, r->opt.json);
	}
	bench_teardown(r);
	int bad = rc || report_errors(r);
	free(r);
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	log_init("starling-bench", LOG_LEVEL_WARN);
	if (argc < 2) {
		opts_usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "provision"))
		return provision_main(argc - 1, argv + 1);
	raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (!strcmp(argv[1], "compare"))
		return compare_main(argc - 1, argv + 1);
	return scenario_main(argc, argv);
}
