/* run: one scenario against one server, on a clock.  Open loop: every login,
 * message and presence update has an intended time fixed in advance, and is
 * sent when that time comes whatever the server has answered, so a slow
 * server cannot slow the offered load and hide its latency. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "bench.h"

#define NS 1000000000ull
#define MAX_WAIT_NS (50ull * 1000000) /* loop wakes at least this often */
#define GRACE_NS NS		      /* a step's messages must arrive within this */
#define SETTLE_NS NS		      /* presence: initial fan-out dies down */

volatile int bench_interrupted;

enum phase { PH_LOGIN, PH_HOLD, PH_SETTLE, PH_TRAFFIC, PH_GRACE, PH_DRAIN, PH_DONE };

static uint64_t ns_of(double s)
{
	return (uint64_t)(s * (double)NS);
}

static double login_rate_of(const struct bench_opts *o)
{
	return o->scenario == BENCH_LOGIN || o->scenario == BENCH_IDLE ? o->rate : o->login_rate;
}

/* Start the logins whose intended time has come.  Returns the next start
 * time, or 0. */
static uint64_t start_due(struct bench_run *r, uint64_t now)
{
	double rate = login_rate_of(&r->opt);
	unsigned cap = r->opt.concurrency;
	while (r->started < r->opt.n) {
		uint64_t due = r->t0 + (uint64_t)((double)r->started * (double)NS / rate);
		if (due > now)
			return due;
		if (cap && r->started - r->online - r->failed >= cap)
			return 0; /* a login's end frees the slot */
		struct bench_conn *c = &r->conns[r->started];
		/* closed loop: the login is measured from when it could start */
		c->start_ns = cap ? now : due;
		c->want_presence = 1;
		net_start(r, c);
		if (r->started - r->online - r->failed > r->max_in_progress)
			r->max_in_progress = r->started - r->online - r->failed;
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

/* Presence: contacts of user i are (i + d) mod n, d = ±1 .. ±K/2, as
 * `starlingctl provision` and bench/peers create them. */
static unsigned online_contacts(const struct bench_run *r, unsigned i)
{
	unsigned n = r->opt.n, k = 0;
	for (unsigned d = 1; d <= r->opt.contacts / 2; d++) {
		k += r->conns[(i + d) % n].state == CS_ONLINE;
		k += r->conns[(i + n - d % n) % n].state == CS_ONLINE;
	}
	return k;
}

/* Sends one stamped unit of traffic from sender i; 0 or negative errno. */
static int send_one(struct bench_run *r, unsigned i)
{
	struct bench_conn *a = &r->conns[i];
	if (r->opt.scenario == BENCH_CHAT) {
		struct bench_conn *b = &r->conns[i + 1];
		if (b->state != CS_ONLINE)
			return -ENOTCONN;
		int rc = xmpp_send_chat(r, a, b, a->next_send_ns);
		r->msgs_expected += !rc;
		return rc;
	}
	int rc = xmpp_send_presence(r, a, a->next_send_ns);
	if (!rc)
		r->msgs_expected += online_contacts(r, i);
	return rc;
}

/* Chat: pair k is conns[2k] -> conns[2k+1]; presence: every user sends.
 * Sends everything whose intended time has passed; returns the next time. */
static uint64_t send_due(struct bench_run *r, uint64_t now)
{
	uint64_t next = 0, interval = (uint64_t)((double)NS / r->cur_rate);
	unsigned stride = r->opt.scenario == BENCH_CHAT ? 2 : 1;
	for (unsigned i = 0; i + stride - 1 < r->opt.n; i += stride) {
		struct bench_conn *a = &r->conns[i];
		while (a->state == CS_ONLINE && a->next_send_ns <= now &&
		       a->next_send_ns < r->chat_end) {
			if (send_one(r, i))
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

static unsigned senders(const struct bench_opts *o)
{
	return o->scenario == BENCH_CHAT ? o->n / 2 : o->n;
}

static void step_begin(struct bench_run *r, uint64_t now)
{
	uint64_t interval = (uint64_t)((double)NS / r->cur_rate), k = senders(&r->opt);
	unsigned stride = r->opt.scenario == BENCH_CHAT ? 2 : 1;
	r->chat_start = now;
	r->chat_end = now + ns_of(r->opt.duration);
	r->step_sent0 = r->msgs_sent;
	r->step_recv0 = r->msgs_recv;
	r->step_expected0 = r->msgs_expected;
	hist_init(&r->step_lat);
	sample_usage(&r->opt, &r->u_step);
	/* spread the senders over one interval so the load is smooth */
	for (unsigned i = 0; i < r->opt.n; i += stride)
		r->conns[i].next_send_ns = now + interval * (i / stride) / k;
}

/* The step's figures, taken when its grace time ends. */
static struct bench_step *step_end(struct bench_run *r)
{
	struct bench_step *s = &r->steps[r->nsteps++];
	struct bench_usage u;
	sample_usage(&r->opt, &u);
	s->rate = r->cur_rate;
	s->offered_per_s = r->cur_rate * senders(&r->opt);
	s->sent = r->msgs_sent - r->step_sent0;
	s->delivered = r->msgs_recv - r->step_recv0;
	s->expected = r->msgs_expected - r->step_expected0;
	s->duration_s = r->opt.duration;
	s->delivered_per_s = (double)s->delivered / r->opt.duration;
	s->server_cpu_s = u.server_cpu_total_s >= 0 && r->u_step.server_cpu_total_s >= 0
		? u.server_cpu_total_s - r->u_step.server_cpu_total_s : -1;
	s->self_cpu_s = u.self_cpu_s - r->u_step.self_cpu_s;
	s->p50_ns = hist_percentile(&r->step_lat, 50);
	s->p99_ns = hist_percentile(&r->step_lat, 99);
	s->p999_ns = hist_percentile(&r->step_lat, 99.9);
	s->max_ns = r->step_lat.count ? r->step_lat.max : 0;
	s->behind = s->delivered < s->expected;
	s->over_bound = (double)s->p99_ns > r->opt.p99_bound_ms * 1e6;
	r->chat_s += r->opt.duration;
	return s;
}

/* After a step: another one at a higher rate, or the final drain. */
static enum phase after_step(struct bench_run *r, uint64_t now, uint64_t *phase_end)
{
	const struct bench_step *s = step_end(r);
	double next = r->cur_rate * r->opt.step;
	if (r->opt.step > 1 && !s->behind && !s->over_bound && next <= r->opt.max_rate &&
	    r->nsteps < BENCH_MAX_STEPS && r->dropped == 0) {
		r->cur_rate = next;
		step_begin(r, now);
		return PH_TRAFFIC;
	}
	*phase_end = now + ns_of(r->opt.timeout);
	return PH_DRAIN;
}

/* All logins settled (bound or failed): the scenario's next phase. */
static enum phase after_login(struct bench_run *r, uint64_t now, uint64_t *phase_end)
{
	sample_usage(&r->opt, &r->u_login);
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
		*phase_end = now + SETTLE_NS;
		return PH_SETTLE;
	default:
		return PH_DONE;
	}
}

/* Idle: each session pings the server once, spread over half the hold. */
static void ping_due(struct bench_run *r, uint64_t now)
{
	while (r->opt.ping && r->ping_next < r->opt.n) {
		uint64_t due = r->ping_start + r->ping_span * r->ping_next / r->opt.n;
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

static enum phase step_login(struct bench_run *r, uint64_t now, uint64_t *next,
			     uint64_t *phase_end)
{
	uint64_t d = start_due(r, now);
	if (d && d < *next)
		*next = d;
	if (now >= r->next_expire) {
		expire_logins(r, now);
		r->next_expire = now + NS / 10;
	}
	if (r->started == r->opt.n && r->online + r->failed == r->opt.n)
		return after_login(r, now, phase_end);
	return PH_LOGIN;
}

static enum phase step(struct bench_run *r, enum phase ph, uint64_t now, uint64_t *next,
		       uint64_t *phase_end)
{
	uint64_t d;
	switch (ph) {
	case PH_LOGIN:
		return step_login(r, now, next, phase_end);
	case PH_HOLD:
		ping_due(r, now);
		if (now < *phase_end)
			return ph;
		sample_usage(&r->opt, &r->u_end);
		r->rss_at_n_kib = r->u_end.server_rss_kib;
		r->hold_s = r->opt.hold;
		return PH_DONE;
	case PH_SETTLE:
		if (now < *phase_end)
			return ph;
		step_begin(r, now);
		return PH_TRAFFIC;
	case PH_TRAFFIC:
		d = send_due(r, now);
		if (d && d < *next)
			*next = d;
		if (now < r->chat_end)
			return ph;
		*phase_end = now + GRACE_NS;
		return PH_GRACE;
	case PH_GRACE:
		if (r->msgs_recv < r->msgs_expected && now < *phase_end)
			return ph;
		return after_step(r, now, phase_end);
	case PH_DRAIN:
		return r->msgs_recv >= r->msgs_expected || now >= *phase_end ? PH_DONE : ph;
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
		.server_cpu_s = u.server_cpu_total_s >= 0 && r->u_start.server_cpu_total_s >= 0
			? u.server_cpu_total_s - r->u_start.server_cpu_total_s : -1,
		.self_cpu_s = u.self_cpu_s - r->u_start.self_cpu_s };
	hist_init(&r->sec_lat);
}

int bench_run(struct bench_run *r)
{
	enum phase ph = PH_LOGIN;
	uint64_t phase_end = 0, next_tick;
	int progress = planned_s(&r->opt) > 2.0;
	sample_usage(&r->opt, &r->u_start);
	r->rss_before_kib = r->u_start.server_rss_kib;
	r->t0 = bench_now();
	r->cur_rate = r->opt.rate;
	take_sample(r, r->t0);
	next_tick = r->t0 + NS;
	while (ph != PH_DONE) {
		if (bench_interrupted) {
			r->aborted = 1;
			break;
		}
		uint64_t now = bench_now(), next = now + MAX_WAIT_NS;
		enum phase was = ph;
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
	sample_usage(&r->opt, &r->u_end);
	if (!r->u_login.t)
		r->u_login = r->u_end; /* interrupted during the logins */
	return 0;
}

static int setup_addrs(struct bench_run *r)
{
	r->addr.sin_family = AF_INET;
	r->addr.sin_port = htons((uint16_t)r->opt.port);
	if (inet_pton(AF_INET, r->opt.host, &r->addr.sin_addr) != 1) {
		log_error("--host %s: not an IPv4 address", r->opt.host);
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

int bench_setup(struct bench_run *r)
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
	r->conns = calloc(r->opt.n, sizeof *r->conns); /* freed in bench_teardown */
	if (!r->conns)
		return -ENOMEM;
	for (unsigned i = 0; i < r->opt.n; i++) {
		r->conns[i].fd = -1;
		r->conns[i].idx = i;
	}
	hist_init(&r->login_lat);
	hist_init(&r->msg_lat);
	hist_init(&r->step_lat);
	hist_init(&r->sec_lat);
	hist_init(&r->ping_lat);
	r->rss_before_kib = r->rss_at_n_kib = -1;
	return net_init(r);
}

void bench_teardown(struct bench_run *r)
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
	r->conns = NULL;
	free(r->src);
	r->src = NULL;
	free(r->series);
	r->series = NULL;
	SSL_CTX_free(r->ctx);
	r->ctx = NULL;
	if (r->ring.ring_fd > 0)
		net_exit(r);
}
