/* starling-cm: the connection manager.  Loads the configuration and TLS
 * contexts, starts one worker per core, and waits for signals: stop, reload
 * the certificates (SIGHUP), log memory (SIGUSR2). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <libxml/parser.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/notify.h"
#include "acctlimit.h"
#include "connlimit.h"
#include "memstat.h"
#include "tls/server.h"
#include "tls/tls.h"
#include "worker.h"

static void usage(void)
{
	fprintf(stderr, "usage: starling-cm [-c FILE]\n"
			"  -c FILE  configuration (default etc/starling.conf)\n");
}

/* Many connections need many descriptors: take the hard limit, and hold no
 * more connections per worker than the descriptors can serve. */
static void raise_nofile(struct config *cfg, unsigned workers)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			log_warn("cannot raise the descriptor limit: %s", strerror(errno));
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	/* A few per worker go to the ring, the link, listeners and the eventfd. */
	rlim_t reserve = 16 + 8 * (rlim_t)workers;
	rlim_t per = rl.rlim_cur > reserve ? (rl.rlim_cur - reserve) / workers : 1;
	if (per < cfg->max_connections) {
		log_warn("descriptor limit %llu allows %llu connections per worker, not %u",
			 (unsigned long long)rl.rlim_cur, (unsigned long long)per,
			 cfg->max_connections);
		cfg->max_connections = (unsigned)per;
	}
}

/* Read without locks: an approximate figure for a log line is enough. */
static uint64_t live_connections(struct worker *ws, unsigned n)
{
	uint64_t live = 0;
	for (unsigned i = 0; i < n; i++)
		live += worker_live(&ws[i]);
	return live;
}

static unsigned worker_count(const struct config *cfg)
{
	if (cfg->workers)
		return cfg->workers;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

/* The server contexts from the files the configuration names, read now:
 * at start-up and again at each SIGHUP.  NULL with the reason in err. */
static SSL_CTX *tls_load(const struct config *cfg, char *err, size_t errlen)
{
	struct tls_domain_cert domains[CONFIG_MAX_HOSTS + 1];
	for (unsigned i = 0; i < cfg->ntls_hosts; i++)
		domains[i] = (struct tls_domain_cert){.domain = cfg->tls_hosts[i].domain,
						      .cert = cfg->tls_hosts[i].cert,
						      .key = cfg->tls_hosts[i].key};
	struct tls_server_opts o = {.cert = cfg->tls_cert,
				    .key = cfg->tls_key,
				    .domains = domains,
				    .ndomains = cfg->ntls_hosts,
				    .session_tickets = cfg->tls_session_tickets,
				    .lean_records = cfg->tls_lean_records,
				    .client_ca = cfg->tls_client_ca[0] ? cfg->tls_client_ca : NULL};
	return tls_server_new(&o, err, errlen);
}

/* SIGHUP: new connections get the certificates now in the files (renewed
 * ones); connections already open keep theirs.  A file that does not load
 * keeps every old certificate: a half-renewed set is worse than none. */
static void tls_reload(const struct config *cfg, struct tls_current *cur)
{
	char err[512];
	SSL_CTX *ctx = tls_load(cfg, err, sizeof err);
	if (!ctx) {
		log_error("SIGHUP: certificates not reloaded, keeping the old ones: %s", err);
		return;
	}
	tls_current_swap(cur, ctx);
	log_info("SIGHUP: certificates reloaded");
}

/* WATCHDOG=1 only while every worker's event loop has turned lately (each
 * turns at least once a second on its tick): a wedged worker gets the
 * process restarted.  now_ms is read without a lock: a stale value can only
 * delay one ping. */
static void watchdog_check(struct worker *ws, unsigned n, unsigned wd_ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	for (unsigned i = 0; i < n; i++)
		if (__atomic_load_n(&ws[i].now_ms, __ATOMIC_RELAXED) + 2ull * wd_ms + 1000 < now) {
			log_warn("worker %u: event loop stalled; not feeding the watchdog", i);
			return;
		}
	notify_watchdog();
	char status[64];
	snprintf(status, sizeof status, "%llu connections",
		 (unsigned long long)live_connections(ws, n));
	notify_status(status);
}

/* The next signal of set, or 0 when wd_ms (if not 0) passed first. */
static int next_signal(const sigset_t *set, unsigned wd_ms)
{
	if (!wd_ms) {
		int sig = 0;
		return sigwait(set, &sig) ? -1 : sig;
	}
	struct timespec t = {.tv_sec = wd_ms / 1000, .tv_nsec = (long)(wd_ms % 1000) * 1000000};
	int sig = sigtimedwait(set, NULL, &t);
	return sig < 0 && (errno == EAGAIN || errno == EINTR) ? 0 : sig;
}

/* Worker threads inherit a blocked signal mask; only main takes signals. */
static void block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGUSR1);
	sigaddset(set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int main(int argc, char **argv)
{
	const char *conf = "etc/starling.conf";
	int opt;
	while ((opt = getopt(argc, argv, "c:h")) != -1) {
		if (opt == 'c')
			conf = optarg;
		else {
			usage();
			return opt == 'h' ? 0 : 2;
		}
	}
	struct config cfg;
	char err[512];
	config_defaults(&cfg);
	if (config_load(conf, &cfg, err, sizeof err)) {
		fprintf(stderr, "starling-cm: %s\n", err);
		return 2;
	}
	log_init("starling-cm", (enum log_level)log_level_parse(cfg.log_level));
	int lrc = log_output((enum log_format)log_format_parse(cfg.log_format), cfg.log_file);
	if (lrc) {
		fprintf(stderr, "starling-cm: log_file %s: %s\n", cfg.log_file, strerror(-lrc));
		return 1;
	}
	memstat_init(); /* before any other OpenSSL call */
	xmlInitParser(); /* once, before threads: libxml2's global state */
	SSL_CTX *ctx = tls_load(&cfg, err, sizeof err);
	if (!ctx) {
		log_error("%s", err);
		return 1;
	}
	struct tls_current tls;
	tls_current_init(&tls, ctx);
	sigset_t set;
	block_signals(&set);
	unsigned n = worker_count(&cfg);
	raise_nofile(&cfg, n);
	struct worker *ws = calloc(n, sizeof *ws);
	/* One copy per worker, freed at exit: starlingctl reload changes a
	 * worker's live keys from that worker's own thread (uplink.c). */
	struct config *wcfg = calloc(n, sizeof *wcfg);
	int rc = ws && wcfg ? 0 : -ENOMEM;
	uplink_config_path = conf;
	for (unsigned i = 0; ws && i < n; i++) {
		ws[i].link.fd = ws[i].wake_fd = -1; /* so a failed start closes nothing twice */
		ws[i].all = ws;
		ws[i].n_all = n;
	}
	/* Shared by the workers; owned here, freed after they are joined. */
	struct connlimit *cl = connlimit_new(cfg.max_connections_per_address);
	struct acctlimit *al = acctlimit_new(cfg.auth_failures_per_account, cfg.auth_failure_window);
	if ((cfg.max_connections_per_address && !cl) || (cfg.auth_failures_per_account && !al))
		rc = -ENOMEM;
	unsigned started = 0;
	for (unsigned i = 0; !rc && i < n; i++) {
		ws[i].connlimit = cl;
		ws[i].acctlimit = al;
		wcfg[i] = cfg;
		rc = worker_init(&ws[i], i, &wcfg[i], &tls);
		if (!rc && (rc = -pthread_create(&ws[i].thread, NULL, worker_main, &ws[i])) == 0)
			started++;
	}
	if (rc) {
		log_error("startup failed: %s", strerror(-rc));
	} else {
		log_info("c2s on %s:%u (STARTTLS)%s, domain %s (+%u hosts), %u worker(s), core at %s",
			 cfg.c2s_address, cfg.c2s_port, cfg.c2s_tls_port ? " and direct TLS" : "",
			 cfg.domain, cfg.nhosts, n, cfg.link_address);
		char status[CONFIG_STR];
		snprintf(status, sizeof status, "c2s on %s:%u, %u worker(s)", cfg.c2s_address,
			 cfg.c2s_port, n);
		notify_ready(status); /* every worker listens and is linked */
		unsigned wd_ms = notify_watchdog_interval_ms();
		int sig;
		while ((sig = next_signal(&set, wd_ms)) == 0 || sig == SIGUSR2 || sig == SIGHUP) {
			if (sig == SIGHUP)
				tls_reload(&cfg, &tls);
			else if (sig == SIGUSR2)
				memstat_log(live_connections(ws, n));
			else
				watchdog_check(ws, n, wd_ms);
		}
		notify_stopping();
		if (sig == SIGUSR1) {
			log_error("a worker lost the core; stopping");
			rc = -ENOTCONN;
		} else {
			log_info("signal %d: stopping", sig < 0 ? 0 : sig);
		}
	}
	for (unsigned i = 0; i < started; i++)
		worker_wake(&ws[i]);
	for (unsigned i = 0; i < started; i++)
		pthread_join(ws[i].thread, NULL);
	for (unsigned i = 0; ws && i < n; i++)
		worker_free(&ws[i]);
	free(ws);
	free(wcfg);
	connlimit_free(cl);
	acctlimit_free(al);
	tls_current_free(&tls);
	xmlCleanupParser();
	return rc ? 1 : 0;
}
