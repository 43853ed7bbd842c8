/* workers: a run on several threads.  Each thread is a bench_run of its
 * own (ring, connections, counters, histograms) over every T-th chat pair;
 * they meet at the barriers of struct bench_sync, and their figures are
 * added into the run's total at the end. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "bench.h"

void sync_init(struct bench_sync *s, unsigned nthreads, const struct bench_opts *o)
{
	memset(s, 0, sizeof *s);
	pthread_mutex_init(&s->mu, NULL);
	s->nthreads = nthreads;
	s->opt = o;
	s->rate = o->rate;
	s->retries_left = o->retries;
	hist_init(&s->step_lat);
}

void sync_destroy(struct bench_sync *s)
{
	pthread_mutex_destroy(&s->mu);
}

struct worker {
	pthread_t tid;
	struct bench_run *r;
	int rc;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct bench_sync *s = w->r->sync;
	w->rc = net_init(w->r);
	__atomic_fetch_add(&s->ready, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&s->go, __ATOMIC_ACQUIRE))
		usleep(1000); /* the others are setting up their rings */
	if (!w->rc && !bench_interrupted)
		w->rc = bench_loop(w->r);
	if (w->rc) /* a broken ring: let the others stop rather than wait at a barrier */
		bench_interrupted = 1;
	rec_thread_done(); /* this thread's cipher contexts */
	return NULL;
}

/* The per-second series, point by point: counts add up; latency is the
 * highest of the threads' percentiles for that second; CPU and memory are
 * process- or server-wide, the same in every thread. */
static void merge_series(struct bench_run *total, struct bench_run *runs, unsigned n)
{
	size_t len = runs[0].nseries;
	for (unsigned j = 1; j < n; j++)
		if (runs[j].nseries < len)
			len = runs[j].nseries;
	total->series = runs[0].series; /* ownership moves to total */
	total->nseries = len;
	total->series_cap = runs[0].series_cap;
	runs[0].series = NULL;
	for (size_t i = 0; i < len; i++) {
		struct bench_sample *t = &total->series[i];
		for (unsigned j = 1; j < n; j++) {
			const struct bench_sample *s = &runs[j].series[i];
			t->online += s->online;
			t->failed += s->failed;
			t->sent += s->sent;
			t->delivered += s->delivered;
			t->p50_ns = s->p50_ns > t->p50_ns ? s->p50_ns : t->p50_ns;
			t->p99_ns = s->p99_ns > t->p99_ns ? s->p99_ns : t->p99_ns;
		}
	}
}

static void merge_one(struct bench_run *t, const struct bench_run *r)
{
	t->started += r->started;
	t->online += r->online;
	t->failed += r->failed;
	t->dropped += r->dropped;
	t->max_in_progress += r->max_in_progress;
	t->tls_lean += r->tls_lean;
	for (int i = 0; i < FAIL_NCAUSES; i++)
		t->fail[i] += r->fail[i];
	if (r->first_login_ns && (!t->first_login_ns || r->first_login_ns < t->first_login_ns))
		t->first_login_ns = r->first_login_ns;
	if (r->last_login_ns > t->last_login_ns)
		t->last_login_ns = r->last_login_ns;
	hist_merge(&t->login_lat, &r->login_lat);
	hist_merge(&t->msg_lat, &r->msg_lat);
	hist_merge(&t->ping_lat, &r->ping_lat);
	t->msgs_sent += r->msgs_sent;
	t->msgs_recv += r->msgs_recv;
	t->msgs_bad += r->msgs_bad;
	t->msgs_expected += r->msgs_expected;
	t->msgs_reordered += r->msgs_reordered;
	t->pub_errors += r->pub_errors;
	t->pep_last += r->pep_last;
	t->disco_answers += r->disco_answers;
	t->fl.delivered += r->fl.delivered;
	t->fl.offline += r->fl.offline;
	t->fl.bounced += r->fl.bounced;
	t->fl.duplicates += r->fl.duplicates;
	t->fl.missing += r->fl.missing;
	t->fl.relogins += r->fl.relogins;
	t->fl.relogin_failures += r->fl.relogin_failures;
	t->pings_sent += r->pings_sent;
	t->pongs += r->pongs;
	t->ping_errors += r->ping_errors;
	t->aborted |= r->aborted;
}

static void merge(struct bench_run *t, struct bench_run *runs, unsigned n,
		  struct bench_sync *s)
{
	for (unsigned j = 0; j < n; j++)
		merge_one(t, &runs[j]);
	merge_series(t, runs, n);
	t->hold_s = runs[0].hold_s;
	t->chat_s = runs[0].chat_s;
	t->cur_rate = s->rate;
	bench_collect_marks(t, s);
}

/* Set up every thread's share before any starts, so they share one t0. */
static int setup_all(struct bench_run *total, struct bench_run *runs, unsigned n)
{
	for (unsigned j = 0; j < n; j++) {
		runs[j].opt = total->opt;
		int rc = bench_thread_setup(&runs[j], j, n);
		if (rc)
			return rc;
	}
	return 0;
}

int workers_run(struct bench_run *total)
{
	unsigned n = total->opt.threads;
	struct bench_sync s;
	struct bench_run *runs = calloc(n, sizeof *runs);   /* freed below */
	struct worker *w = calloc(n, sizeof *w);	     /* freed below */
	int rc = runs && w ? 0 : -ENOMEM;
	sync_init(&s, n, &total->opt);
	if (!rc)
		rc = setup_all(total, runs, n);
	unsigned started = 0;
	for (; !rc && started < n; started++) {
		runs[started].sync = &s;
		runs[started].u_start = total->u_start;
		w[started].r = &runs[started];
		if ((rc = -pthread_create(&w[started].tid, NULL, worker_main, &w[started]))) {
			log_error("pthread_create: %s", strerror(-rc));
			break;
		}
	}
	if (rc)
		bench_interrupted = 1; /* the started ones stop at their next turn */
	while (!rc && __atomic_load_n(&s.ready, __ATOMIC_ACQUIRE) < n)
		usleep(1000);
	/* one clock for every thread's schedule */
	total->t0 = bench_now();
	for (unsigned j = 0; j < started; j++)
		runs[j].t0 = total->t0;
	__atomic_store_n(&s.go, 1, __ATOMIC_RELEASE);
	for (unsigned j = 0; j < started; j++) {
		pthread_join(w[j].tid, NULL);
		if (!rc)
			rc = w[j].rc;
	}
	if (runs && !rc)
		merge(total, runs, n, &s);
	for (unsigned j = 0; runs && j < n; j++)
		bench_teardown(&runs[j]);
	free(runs);
	free(w);
	sync_destroy(&s);
	return rc;
}
