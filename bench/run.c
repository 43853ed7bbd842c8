/* run: one scenario against one server, on a clock.  Open loop: every login,
 * message and presence update has an intended time fixed in advance, and is
 * sent when that time comes whatever the server has answered, so a slow
 * server cannot slow the offered load and hide its latency. */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "bench.h"

#define NS 1000000000ull
#define MAX_WAIT_NS (50ull * 1000000) /* loop wakes at least this often */
#define GRACE_NS NS		      /* a step's messages must arrive within this */
#define SETTLE_NS NS		      /* presence, pep: initial fan-out (and caps) dies down */
#define QUIET_NS (2 * NS)	      /* --faults: nothing new this long: nothing more comes */
#define RELOGIN_DELAY_NS (NS / 5)   /* --faults: the closed sessions' ends reach the core */

volatile int bench_interrupted;

enum phase { PH_LOGIN, PH_HOLD, PH_SETTLE, PH_TRAFFIC, PH_GRACE, PH_DRAIN, PH_OFFLINE, PH_WAIT,
	     PH_DONE };
/* What the threads wait for together (struct bench_sync). */
enum barrier { B_LOGIN, B_SETTLE, B_STEP, B_FINAL };

static uint64_t ns_of(double s)
{
	return (uint64_t)(s * (double)NS);
}

static double login_rate_of(const struct bench_opts *o)
{
	return o->scenario == BENCH_LOGIN || o->scenario == BENCH_IDLE ? o->rate : o->login_rate;
}

static uint64_t shared(uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* Start the logins whose intended time has come (login g of the run is due
 * at t0 + g / rate, whichever thread owns it).  Returns the next start time,
 * or 0. */
static uint64_t start_due(struct bench_run *r, uint64_t now)
{
	double rate = login_rate_of(&r->opt);
	unsigned cap = r->opt.concurrency;
	while (r->started < r->nconns) {
		struct bench_conn *c = &r->conns[r->started];
		uint64_t due = r->t0 + (uint64_t)((double)c->idx * (double)NS / rate);
		if (due > now)
			return due;
		unsigned busy = r->started - r->online - r->failed; /* logins under way */
		if (cap && busy >= cap)
			return 0; /* a login's end frees the slot */
		/* closed loop: the login is measured from when it could start */
		c->start_ns = cap ? now : due;
		c->want_presence = 1;
		net_start(r, c);
		if (busy + 1 > r->max_in_progress)
			r->max_in_progress = busy + 1;
		net_flush(r, c);
	}
	return 0;
}

static void expire_logins(struct bench_run *r, uint64_t now)
{
	uint64_t limit = ns_of(r->opt.timeout);
	for (unsigned i = 0; i < r->started; i++) {
		struct bench_conn *c = &r->conns[i];
		if (c->state != CS_DEAD && c->state != CS_ONLINE && now - c->start_ns > limit) {
			xmpp_fail(r, c, FAIL_TIMEOUT, "login timeout");
			net_close(r, c);
		}
	}
}

/* --faults: a session that dropped logs in again once its backoff is over;
 * an attempt that hangs is given up after --timeout and tried again.
 * Returns the next due time, or 0. */
static uint64_t relogin_due(struct bench_run *r, uint64_t now)
{
	uint64_t next = 0, limit = ns_of(r->opt.timeout);
	for (unsigned i = 0; i < r->nconns; i++) {
		struct bench_conn *c = &r->conns[i];
		if (!faults_again(c))
			continue;
		if (c->state != CS_DEAD && c->state != CS_ONLINE && now - c->start_ns > limit) {
			xmpp_fail(r, c, FAIL_TIMEOUT, "login timeout");
			net_close(r, c);
		}
		if (!c->fl->retry_at || c->fd >= 0)
			continue;
		if (c->fl->retry_at > now) {
			next = !next || c->fl->retry_at < next ? c->fl->retry_at : next;
			continue;
		}
		c->fl->retry_at = 0;
		c->gen++;
		c->recv_armed = c->poll_out = c->start_tls = c->pinged = 0;
		c->state = CS_NEW;
		c->start_ns = now;
		c->want_presence = 1;
		net_start(r, c);
		net_flush(r, c);
	}
	return next;
}

/* --faults: a login after the first is due or under way. */
static int relogin_pending(const struct bench_run *r)
{
	for (unsigned i = 0; i < r->nconns; i++) {
		const struct bench_conn *c = &r->conns[i];
		if (faults_again(c) &&
		    (c->fl->retry_at || (c->state != CS_ONLINE && c->state != CS_DEAD)))
			return 1;
	}
	return 0;
}

/* Presence and pep: contacts of user i are (i + d) mod n, d = ±1 .. ±K/2, as
 * `starlingctl provision` and bench/peers create them.  With one thread the
 * update is expected at each contact online now; with several, a contact
 * may be another thread's, and every contact is expected (a session lost
 * already fails the run). */
static unsigned online_contacts(const struct bench_run *r, unsigned i)
{
	unsigned n = r->opt.n, k = 0;
	if (r->sync->nthreads > 1)
		return r->opt.contacts;
	for (unsigned d = 1; d <= r->opt.contacts / 2; d++) {
		k += r->conns[(i + d) % n].state == CS_ONLINE;
		k += r->conns[(i + n - d) % n].state == CS_ONLINE; /* d < n: K < n */
	}
	return k;
}

/* Sends one stamped unit of traffic from sender i; 0 or negative errno. */
static int send_one(struct bench_run *r, unsigned i)
{
	struct bench_conn *a = &r->conns[i];
	unsigned expect = 1;
	int rc;
	if (r->opt.scenario == BENCH_CHAT && r->opt.faults) {
		rc = faults_send_chat(r, a, &r->conns[i + 1], a->next_send_ns);
	} else if (r->opt.scenario == BENCH_CHAT) {
		struct bench_conn *b = &r->conns[i + 1];
		if (b->state != CS_ONLINE)
			return -ENOTCONN;
		rc = xmpp_send_chat(r, a, b->jid, a->seq++, a->next_send_ns);
	} else if (r->opt.scenario == BENCH_PEP) {
		/* the publisher's own session names +notify too, and XEP-0163
		 * notifies the owner's resources as well as the contacts' */
		rc = xmpp_send_publish(r, a, a->next_send_ns);
		expect = online_contacts(r, i) + 1;
	} else {
		rc = xmpp_send_presence(r, a, a->next_send_ns);
		expect = online_contacts(r, i);
	}
	if (!rc) {
		BENCH_COUNT(r, msgs_expected, expect);
		BENCH_COUNT(r, msgs_sent, 1);
	}
	return rc;
}

/* --- the send schedule ---------------------------------------------------
 * The senders of a step, soonest first: a binary min-heap of their places in
 * conns keyed by next_send_ns, so that a loop turn visits the senders that
 * are due and no others (walking all of them every turn cost the bench more
 * than a message at 50 pairs).  A sender that is not online, or whose send
 * failed, when its turn comes is parked and looked at again every turn
 * until it can send (--faults logs lost sessions in again). */

static uint64_t sched_key(const struct bench_run *r, unsigned j)
{
	return r->conns[r->sched[j]].next_send_ns;
}

static void sched_swap(struct bench_run *r, unsigned a, unsigned b)
{
	unsigned t = r->sched[a];
	r->sched[a] = r->sched[b];
	r->sched[b] = t;
}

static void sched_down(struct bench_run *r, unsigned j)
{
	for (;;) {
		unsigned m = j, l = 2 * j + 1;
		if (l < r->nsched && sched_key(r, l) < sched_key(r, m))
			m = l;
		if (l + 1 < r->nsched && sched_key(r, l + 1) < sched_key(r, m))
			m = l + 1;
		if (m == j)
			return;
		sched_swap(r, j, m);
		j = m;
	}
}

static void sched_push(struct bench_run *r, unsigned i)
{
	unsigned j = r->nsched++;
	r->sched[j] = i;
	while (j && sched_key(r, (j - 1) / 2) > sched_key(r, j)) {
		sched_swap(r, j, (j - 1) / 2);
		j = (j - 1) / 2;
	}
}

static unsigned sched_pop(struct bench_run *r)
{
	unsigned i = r->sched[0];
	r->sched[0] = r->sched[--r->nsched];
	sched_down(r, 0);
	return i;
}

static unsigned stride_of(const struct bench_opts *o)
{
	return o->scenario == BENCH_CHAT ? 2 : 1;
}

/* A step begins: every sender of this thread in the heap (r->sched holds
 * them all; allocated here once, freed in bench_teardown). */
static int sched_fill(struct bench_run *r)
{
	unsigned stride = stride_of(&r->opt);
	if (!r->sched)
		r->sched = calloc(r->nconns / stride + 1, sizeof *r->sched);
	if (!r->sched)
		return -ENOMEM;
	r->nsched = r->nparked = 0;
	for (unsigned i = 0; i + stride - 1 < r->nconns; i += stride) {
		r->conns[i].parked = 0;
		r->sched[r->nsched++] = i;
	}
	for (unsigned j = r->nsched / 2; j-- > 0;)
		sched_down(r, j);
	return 0;
}

static void park(struct bench_run *r, struct bench_conn *a)
{
	a->parked = 1;
	r->nparked++;
}

/* Parked senders that can send again go back into the heap. */
static void unpark(struct bench_run *r)
{
	unsigned stride = stride_of(&r->opt);
	for (unsigned i = 0; r->nparked && i + stride - 1 < r->nconns; i += stride) {
		struct bench_conn *a = &r->conns[i];
		if (!a->parked || (a->state != CS_ONLINE && a->next_send_ns < r->chat_end))
			continue;
		a->parked = 0;
		r->nparked--;
		if (a->next_send_ns < r->chat_end)
			sched_push(r, i);
	}
}

/* Sender i is due: everything whose intended time has passed, in one send(). */
static void send_sender(struct bench_run *r, unsigned i, uint64_t now, uint64_t interval)
{
	struct bench_conn *a = &r->conns[i];
	int rc = 0;
	while (a->next_send_ns <= now && a->next_send_ns < r->chat_end && !(rc = send_one(r, i)))
		a->next_send_ns += interval;
	net_flush(r, a);
	if (a->next_send_ns >= r->chat_end)
		return; /* done for this step */
	if (rc || a->state != CS_ONLINE)
		park(r, a);
	else
		sched_push(r, i);
}

/* Chat: pair k is conns[2k] -> conns[2k+1]; presence, pep: every user sends.
 * Sends everything whose intended time has passed; returns the next time. */
static uint64_t send_due(struct bench_run *r, uint64_t now)
{
	uint64_t interval = (uint64_t)((double)NS / r->cur_rate);
	if (r->nparked)
		unpark(r);
	while (r->nsched) {
		struct bench_conn *a = &r->conns[r->sched[0]];
		int live = a->state == CS_ONLINE && a->next_send_ns < r->chat_end;
		if (live && a->next_send_ns > now)
			return a->next_send_ns;
		unsigned i = sched_pop(r);
		if (live)
			send_sender(r, i, now, interval);
		else if (a->next_send_ns < r->chat_end)
			park(r, a);
	}
	return 0;
}

static unsigned senders(const struct bench_opts *o)
{
	return o->scenario == BENCH_CHAT ? o->n / 2 : o->n;
}

static void step_begin(struct bench_run *r, uint64_t now)
{
	uint64_t interval = (uint64_t)((double)NS / r->cur_rate), k = senders(&r->opt);
	unsigned stride = stride_of(&r->opt);
	r->chat_end = now + ns_of(r->opt.duration);
	r->step_sent0 = r->msgs_sent;
	r->step_recv0 = r->msgs_recv;
	r->step_expected0 = r->msgs_expected;
	hist_init(&r->step_lat);
	/* spread all the run's senders over one interval so the load is smooth */
	for (unsigned i = 0; i < r->nconns; i += stride)
		r->conns[i].next_send_ns = now + interval * (r->conns[i].idx / stride) / k;
	if (sched_fill(r))
		log_error("no memory for the send schedule: this thread sends nothing");
}

/* --- barriers ------------------------------------------------------------ */

/* Arrive at barrier b; the last thread to arrive runs done() under the lock
 * (it samples /proc and decides) and lets everyone through. */
static void arrive(struct bench_run *r, enum barrier b, void (*done)(struct bench_sync *s))
{
	struct bench_sync *s = r->sync;
	pthread_mutex_lock(&s->mu);
	r->wait_gen = __atomic_load_n(&s->gen, __ATOMIC_RELAXED);
	r->barrier = (int)b;
	if (++s->arrived == s->nthreads) {
		if (done)
			done(s);
		s->arrived = 0;
		/* release: what done() wrote is visible to whoever sees the new gen */
		__atomic_store_n(&s->gen, s->gen + 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&s->mu);
}

static int passed(struct bench_run *r)
{
	return __atomic_load_n(&r->sync->gen, __ATOMIC_ACQUIRE) != r->wait_gen;
}

/* Logins settled everywhere: the CPU mark for per-login figures, and the
 * start of the first chat step. */
static void mark_login(struct bench_sync *s)
{
	sample_usage(s->opt, &s->u_login);
	s->u_step = s->u_login;
}

/* Presence, pep: the initial fan-out is over, the first step starts now. */
static void mark_settle(struct bench_sync *s)
{
	sample_usage(s->opt, &s->u_step);
}

static void mark_end(struct bench_sync *s)
{
	sample_usage(s->opt, &s->u_end);
}

/* The last thread at a step's end: the step's figures over all threads, and
 * whether another step follows (at rate x --step, if this one passed). */
static void mark_step(struct bench_sync *s)
{
	const struct bench_opts *o = s->opt;
	struct bench_step *st = &s->steps[s->nsteps++];
	struct bench_usage u;
	sample_usage(o, &u);
	*st = (struct bench_step){ .rate = s->rate, .sent = s->step_sent,
		.delivered = s->step_recv, .expected = s->step_expected,
		.duration_s = o->duration, .self_cpu_s = u.self_cpu_s - s->u_step.self_cpu_s };
	st->offered_per_s = s->rate * senders(o);
	st->delivered_per_s = (double)st->delivered / o->duration;
	st->server_cpu_s = sample_cpu_delta(&s->u_step, &u, -1);
	st->p50_ns = hist_percentile(&s->step_lat, 50);
	st->p99_ns = hist_percentile(&s->step_lat, 99);
	st->p999_ns = hist_percentile(&s->step_lat, 99.9);
	st->max_ns = s->step_lat.count ? s->step_lat.max : 0;
	st->behind = st->delivered < st->expected;
	st->over_bound = (double)st->p99_ns > o->p99_bound_ms * 1e6;
	/* A step that delivered everything but missed the bound may be a stall
	 * of the host rather than the server's limit: --retry runs it again. */
	int again = !st->behind && st->over_bound && s->retries_left > 0;
	double next = again ? s->rate : s->rate * o->step;
	s->go_on = o->step > 1 && !st->behind && (!st->over_bound || again) &&
		   next <= o->max_rate && s->nsteps < BENCH_MAX_STEPS &&
		   !__atomic_load_n(&s->dropped, __ATOMIC_RELAXED);
	s->retries_left = again ? s->retries_left - 1 : o->retries;
	if (s->go_on)
		s->rate = next;
	s->u_step = u;
	s->step_sent = s->step_recv = s->step_expected = 0;
	hist_init(&s->step_lat);
}

/* A thread's share of the step that just ended, added before it arrives. */
static void step_deposit(struct bench_run *r)
{
	struct bench_sync *s = r->sync;
	pthread_mutex_lock(&s->mu);
	s->step_sent += r->msgs_sent - r->step_sent0;
	s->step_recv += r->msgs_recv - r->step_recv0;
	s->step_expected += r->msgs_expected - r->step_expected0;
	hist_merge(&s->step_lat, &r->step_lat);
	pthread_mutex_unlock(&s->mu);
	r->chat_s += r->opt.duration;
}

/* All logins settled (bound or failed) everywhere: the scenario's next phase. */
static enum phase after_login(struct bench_run *r, uint64_t now, uint64_t *phase_end)
{
	r->u_login = r->sync->u_login;
	switch (r->opt.scenario) {
	case BENCH_IDLE:
		*phase_end = now + ns_of(r->opt.hold);
		r->ping_start = now;
		r->ping_span = ns_of(r->opt.hold / 2);
		return PH_HOLD;
	case BENCH_CHAT:
		step_begin(r, now);
		return PH_TRAFFIC;
	case BENCH_PRESENCE:
	case BENCH_PEP: /* the caps query too: notifications need it answered */
		*phase_end = now + SETTLE_NS;
		return PH_SETTLE;
	default:
		arrive(r, B_FINAL, mark_end);
		return PH_WAIT;
	}
}

/* A barrier passed: where each thread goes next. */
static enum phase after_wait(struct bench_run *r, uint64_t now, uint64_t *phase_end)
{
	switch ((enum barrier)r->barrier) {
	case B_LOGIN:
		return after_login(r, now, phase_end);
	case B_SETTLE:
		step_begin(r, now);
		return PH_TRAFFIC;
	case B_STEP:
		if (r->sync->go_on) {
			r->cur_rate = r->sync->rate;
			step_begin(r, now);
			return PH_TRAFFIC;
		}
		*phase_end = now + ns_of(r->opt.timeout);
		return PH_DRAIN;
	default:
		return PH_DONE;
	}
}

/* Idle: each session pings the server once, spread over half the hold. */
static void ping_due(struct bench_run *r, uint64_t now)
{
	while (r->opt.ping && r->ping_next < r->nconns) {
		uint64_t due = r->ping_start + r->ping_span * r->ping_next / r->nconns;
		if (due > now)
			return;
		struct bench_conn *c = &r->conns[r->ping_next++];
		if (c->state != CS_ONLINE)
			continue;
		c->next_send_ns = now;
		if (!xmpp_send_ping(r, c)) {
			c->pinged = 1;
			r->pings_sent++;
		}
		net_flush(r, c);
	}
}

static enum phase step_login(struct bench_run *r, uint64_t now, uint64_t *next)
{
	uint64_t d = start_due(r, now);
	if (d && d < *next)
		*next = d;
	if (now >= r->next_expire) {
		expire_logins(r, now);
		r->next_expire = now + NS / 10;
	}
	if (r->started == r->nconns && r->online + r->failed == r->nconns) {
		arrive(r, B_LOGIN, mark_login);
		return PH_WAIT;
	}
	return PH_LOGIN;
}

/* Everything expected arrived, over all threads. */
static int all_delivered(const struct bench_run *r)
{
	return shared(&r->sync->msgs_recv) >= shared(&r->sync->msgs_expected);
}

/* --faults: what is still missing may sit in offline storage, where no
 * wait brings it: the wait ends when this thread's sessions are back and
 * nothing new has come for a while. */
static int quiet(const struct bench_run *r, uint64_t now, uint64_t since)
{
	uint64_t last = r->fl_progress_ns > since ? r->fl_progress_ns : since;
	return r->opt.faults && now - last >= QUIET_NS && !relogin_pending(r);
}

/* --faults, the drain over: every receiver ends its session and logs in
 * afresh, and takes what offline storage kept for it (RFC 6121 §8.5.2.1.1
 * leaves storage to the server; Starling delivers it at initial presence). */
static enum phase offline_pass(struct bench_run *r, uint64_t now, uint64_t *phase_end)
{
	for (unsigned i = 1; i < r->nconns; i += 2) {
		struct bench_conn *c = &r->conns[i];
		if (c->fd >= 0) {
			xmpp_close(c);
			net_flush(r, c);
			net_close(r, c);
		}
		faults_relogin(c, now + RELOGIN_DELAY_NS);
	}
	r->fl_progress_ns = now;
	*phase_end = now + ns_of(r->opt.timeout);
	return PH_OFFLINE;
}

static enum phase step(struct bench_run *r, enum phase ph, uint64_t now, uint64_t *next,
		       uint64_t *phase_end)
{
	uint64_t d;
	switch (ph) {
	case PH_LOGIN:
		return step_login(r, now, next);
	case PH_HOLD:
		ping_due(r, now);
		if (now < *phase_end)
			return ph;
		r->hold_s = r->opt.hold;
		arrive(r, B_FINAL, mark_end); /* its RSS sample is the one at N */
		return PH_WAIT;
	case PH_SETTLE:
		if (now < *phase_end)
			return ph;
		arrive(r, B_SETTLE, mark_settle);
		return PH_WAIT;
	case PH_TRAFFIC:
		d = send_due(r, now);
		if (d && d < *next)
			*next = d;
		if (now < r->chat_end)
			return ph;
		*phase_end = now + GRACE_NS;
		return PH_GRACE;
	case PH_GRACE:
		if (!all_delivered(r) && now < *phase_end)
			return ph;
		step_deposit(r);
		arrive(r, B_STEP, mark_step);
		return PH_WAIT;
	case PH_DRAIN:
		if (!all_delivered(r) && now < *phase_end &&
		    !quiet(r, now, *phase_end - ns_of(r->opt.timeout)))
			return ph;
		if (r->opt.faults && !all_delivered(r))
			return offline_pass(r, now, phase_end);
		arrive(r, B_FINAL, mark_end);
		return PH_WAIT;
	case PH_OFFLINE:
		if (!all_delivered(r) && now < *phase_end && !quiet(r, now, 0))
			return ph;
		arrive(r, B_FINAL, mark_end);
		return PH_WAIT;
	case PH_WAIT:
		return passed(r) ? after_wait(r, now, phase_end) : ph;
	default:
		return PH_DONE;
	}
}

static double planned_s(const struct bench_opts *o)
{
	return o->n / login_rate_of(o) + (o->scenario == BENCH_IDLE ? o->hold : 0) +
	       (o->scenario >= BENCH_CHAT ? o->duration : 0);
}

/* One point of the per-second series. */
static void take_sample(struct bench_run *r, uint64_t now)
{
	if (r->nseries == r->series_cap) {
		size_t cap = r->series_cap ? r->series_cap * 2 : 64;
		struct bench_sample *s = realloc(r->series, cap * sizeof *s);
		if (!s)
			return; /* the series is a nicety: the figures stand without it */
		r->series = s;
		r->series_cap = cap;
	}
	struct bench_usage u;
	sample_usage(&r->opt, &u);
	struct bench_sample *s = &r->series[r->nseries++];
	*s = (struct bench_sample){ .t_s = (double)(now - r->t0) / 1e9, .online = r->online,
		.failed = r->failed + r->dropped, .sent = r->msgs_sent,
		.delivered = r->msgs_recv, .p50_ns = hist_percentile(&r->sec_lat, 50),
		.p99_ns = hist_percentile(&r->sec_lat, 99), .server_rss_kib = u.server_rss_kib,
		.server_cpu_s = sample_cpu_delta(&r->u_start, &u, -1),
		.self_cpu_s = u.self_cpu_s - r->u_start.self_cpu_s };
	hist_init(&r->sec_lat);
}

/* The phase machine of one thread, from its first login to the run's end
 * (r->t0, r->u_start and r->sync set by the caller). */
int bench_loop(struct bench_run *r)
{
	enum phase ph = PH_LOGIN;
	uint64_t phase_end = 0, next_tick = r->t0 + NS;
	/* the thread with connection 0 prints the progress of all */
	int progress = r->nconns && r->conns[0].idx == 0 && planned_s(&r->opt) > 2.0;
	r->cur_rate = r->opt.rate;
	r->barrier = -1;
	take_sample(r, r->t0);
	while (ph != PH_DONE) {
		if (bench_interrupted) {
			r->aborted = 1;
			break;
		}
		uint64_t now = bench_now(), next = now + MAX_WAIT_NS;
		enum phase was = ph;
		if (r->opt.faults) {
			uint64_t d = relogin_due(r, now);
			if (d && d < next)
				next = d;
		}
		ph = step(r, ph, now, &next, &phase_end);
		if (ph != was)
			next = now; /* the new phase may have work due right away */
		if (now >= next_tick) {
			take_sample(r, now);
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
	take_sample(r, bench_now());
	if (r->opt.faults)
		faults_count_missing(r);
	return 0;
}

void bench_collect_marks(struct bench_run *r, struct bench_sync *s)
{
	if (!s->u_end.t)
		sample_usage(&r->opt, &s->u_end); /* interrupted before the end */
	if (!s->u_login.t)
		s->u_login = s->u_end;
	r->u_login = s->u_login;
	r->u_end = s->u_end;
	if (r->opt.scenario == BENCH_IDLE)
		r->rss_at_n_kib = r->hold_s > 0 ? s->u_end.server_rss_kib : -1;
	memcpy(r->steps, s->steps, sizeof r->steps);
	r->nsteps = s->nsteps;
}

int bench_run(struct bench_run *r)
{
	sample_usage(&r->opt, &r->u_start);
	r->rss_before_kib = r->u_start.server_rss_kib;
	if (r->opt.threads > 1)
		return workers_run(r);
	struct bench_sync s;
	sync_init(&s, 1, &r->opt);
	r->sync = &s;
	r->t0 = bench_now();
	int rc = bench_loop(r);
	bench_collect_marks(r, &s);
	r->sync = NULL;
	sync_destroy(&s);
	return rc;
}

/* --host: an address literal or a name (IPv4 or IPv6, the first the resolver
 * gives), resolved once before any connection, for each --port. */
static int resolve(struct bench_run *r)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res;
	for (unsigned i = 0; i < (r->opt.nports ? r->opt.nports : 1); i++) {
		char port[8];
		snprintf(port, sizeof port, "%d", r->opt.nports ? r->opt.ports[i] : r->opt.port);
		int rc = getaddrinfo(r->opt.host, port, &hints, &res);
		if (rc) {
			log_error("--host %s: %s", r->opt.host, gai_strerror(rc));
			return -EINVAL;
		}
		memcpy(&r->addr[i], res->ai_addr, res->ai_addrlen);
		r->addr_len = res->ai_addrlen;
		freeaddrinfo(res);
	}
	return 0;
}

static int setup_addrs(struct bench_run *r)
{
	int rc = resolve(r);
	if (rc)
		return rc;
	if (r->opt.src_addrs > 1 && r->addr[0].ss_family != AF_INET) {
		log_error("--source-addrs: 127.0.0.x source addresses need an IPv4 server address");
		return -EINVAL;
	}
	if (r->opt.src_addrs <= 1)
		return 0;
	/* one address gives ~28k ephemeral ports towards one server port */
	r->src = calloc(r->opt.src_addrs, sizeof *r->src); /* freed in bench_teardown */
	if (!r->src)
		return -ENOMEM;
	for (unsigned i = 0; i < r->opt.src_addrs; i++) {
		r->src[i].sin_family = AF_INET;
		r->src[i].sin_addr.s_addr = htonl(0x7f000001u + i);
	}
	return 0;
}

static void hists_init(struct bench_run *r)
{
	hist_init(&r->login_lat);
	hist_init(&r->msg_lat);
	hist_init(&r->step_lat);
	hist_init(&r->sec_lat);
	hist_init(&r->ping_lat);
	r->rss_before_kib = r->rss_at_n_kib = -1;
}

/* Thread t of nthreads owns chat pairs p = t, t + nthreads, ... (connections
 * 2p and 2p + 1), so a pair never spans threads and every thread logs in
 * users from the whole schedule. */
static unsigned slice(unsigned n, unsigned t, unsigned nthreads, struct bench_conn *out)
{
	unsigned k = 0;
	for (unsigned p = t; 2 * p < n; p += nthreads)
		for (unsigned g = 2 * p; g < 2 * p + 2 && g < n; g++) {
			if (out)
				out[k] = (struct bench_conn){ .fd = -1, .idx = g };
			k++;
		}
	return k;
}

int bench_thread_setup(struct bench_run *r, unsigned t, unsigned nthreads)
{
	char err[256];
	int rc = setup_addrs(r);
	if (rc)
		return rc;
	r->ctx = tls_client_ctx(r->opt.ca_file, err, sizeof err);
	if (!r->ctx) {
		log_error("TLS context: %s", err);
		return -EINVAL;
	}
	if (!r->opt.openssl_records)
		rec_capture_secrets(r->ctx);
	r->nconns = slice(r->opt.n, t, nthreads, NULL);
	/* freed in bench_teardown */
	r->conns = calloc(r->nconns ? r->nconns : 1, sizeof *r->conns);
	if (!r->conns)
		return -ENOMEM;
	slice(r->opt.n, t, nthreads, r->conns);
	hists_init(r);
	return r->opt.faults ? faults_init(r) : 0;
}

int bench_setup(struct bench_run *r)
{
	if (r->opt.threads > 1) { /* the threads set up their own shares */
		hists_init(r);
		return 0;
	}
	int rc = bench_thread_setup(r, 0, 1);
	return rc ? rc : net_init(r);
}

void bench_teardown(struct bench_run *r)
{
	for (unsigned i = 0; r->conns && i < r->nconns; i++) {
		struct bench_conn *c = &r->conns[i];
		if (c->fd >= 0) {
			xmpp_close(c);
			net_flush(r, c);
			net_close(r, c);
		}
		xmpp_free(c);
		faults_free(c);
	}
	free(r->conns);
	r->conns = NULL;
	free(r->src);
	r->src = NULL;
	free(r->series);
	r->series = NULL;
	free(r->sched);
	r->sched = NULL;
	SSL_CTX_free(r->ctx);
	r->ctx = NULL;
	rec_thread_done();
	if (r->ring.ring_fd > 0)
		net_exit(r);
	/* Give the freed heap back, so that the next run of a compare starts
	 * from a small RSS and its per-connection figure means something. */
	malloc_trim(0);
}
