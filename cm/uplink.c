#include "uplink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "c2s.h"
#include "relink.h"
#include "sm.h"
#include "lib/config.h"
#include "lib/linkaddr.h"
#include "lib/log.h"
#include "worker.h"

#define UPLINK_RECV_CHUNK 65536
/* The link's buffers are kept between batches up to this size (buf_drop). */
#define UPLINK_KEEP (4 * UPLINK_RECV_CHUNK)
/* Backpressure watermarks on frames queued for the core.  Clients stop being
 * read above HIGH and resume below LOW; frames are never dropped, so the
 * queue can pass HIGH only by what paused clients had already sent. */
#define UPLINK_HIGH (4u << 20)
#define UPLINK_LOW (1u << 20)

static size_t uplink_queued(const struct uplink *l)
{
	return buf_avail(&l->out) + buf_avail(&l->sending);
}

/* Stream errors sent, one line per condition seen so far, the name's
 * hyphens as underscores (the core relays lowercase names only). */
static int report_stream_errors(const struct worker *w, char *p, size_t cap)
{
	size_t n = 0;
	for (int e = 0; e < SE_COUNT; e++) {
		if (!w->n_stream_errors[e])
			continue;
		char name[64];
		snprintf(name, sizeof name, "%s", c2s_stream_error_name(e));
		for (char *q = name; *q; q++)
			*q = *q == '-' ? '_' : *q;
		int k = snprintf(p + n, cap - n, "starling_cm_stream_errors_%s_total %llu\n", name,
				 (unsigned long long)w->n_stream_errors[e]);
		if (k < 0 || (size_t)k >= cap - n)
			return -1;
		n += (size_t)k;
	}
	return (int)n;
}

static uint64_t stanzas(const uint64_t by_kind[4])
{
	return by_kind[1] + by_kind[2] + by_kind[3];
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One PING at a time, each tick: the link's round trip, the core's loop
 * included, for starling_cm_link_rtt_seconds. */
static void uplink_ping(struct worker *w)
{
	struct uplink *l = &w->link;
	if (!l->up || l->ping_sent_ns)
		return;
	if (wire_put_u32_frame(&l->out, WIRE_PING, 0, ++l->ping_token) == 0)
		l->ping_sent_ns = mono_ns();
}

static void uplink_pong(struct worker *w, const struct wire_frame *f)
{
	struct uplink *l = &w->link;
	struct wire_reader r;
	wire_reader_init(&r, f);
	uint32_t token = wire_get_u32(&r);
	if (r.err || !l->ping_sent_ns || token != l->ping_token)
		return;
	__atomic_store_n(&l->rtt_ns, mono_ns() - l->ping_sent_ns, __ATOMIC_RELAXED);
	l->ping_sent_ns = 0;
}

void uplink_report(struct worker *w)
{
	uplink_ping(w);
	char text[2048];
	int n = snprintf(text, sizeof text,
			 "starling_cm_connections %llu\n"
			 "starling_cm_accepted_total %llu\n"
			 "starling_cm_auth_ok_total %llu\n"
			 "starling_cm_auth_failed_total %llu\n"
			 "starling_cm_stanzas_in_total %llu\n"
			 "starling_cm_stanzas_out_total %llu\n"
			 "starling_cm_refused_per_address_total %llu\n"
			 "starling_cm_auth_throttled_address_total %llu\n"
			 "starling_cm_auth_throttled_account_total %llu\n"
			 "starling_cm_read_shaped_total %llu\n",
			 (unsigned long long)worker_live(w), (unsigned long long)w->n_accepted,
			 (unsigned long long)w->n_auth_ok, (unsigned long long)w->n_auth_failed,
			 (unsigned long long)stanzas(w->n_stanzas_in),
			 (unsigned long long)stanzas(w->n_stanzas_out),
			 (unsigned long long)w->n_refused_per_address,
			 (unsigned long long)w->n_auth_throttled_address,
			 (unsigned long long)w->n_auth_throttled_account,
			 (unsigned long long)w->n_read_shaped);
	if (n <= 0 || (size_t)n >= sizeof text)
		return;
	int k = report_stream_errors(w, text + n, sizeof text - (size_t)n);
	if (!w->link.up || k < 0)
		return;
	n += k;
	struct wire_writer wr;
	wire_begin(&wr, &w->link.out, WIRE_CM_STATS, 0);
	wire_put_str(&wr, text, (size_t)n);
	if (wire_end(&wr))
		log_warn("worker %u: figures for the core not queued", w->id);
}

int uplink_backed_up(struct worker *w) { return uplink_queued(&w->link) > UPLINK_HIGH; }

int uplink_connect(struct worker *w)
{
	const char *a = w->cfg->link_address;
	int fd = -ECONNREFUSED;
	/* The core may still be starting: retry for up to ten seconds. */
	for (int i = 0; i < 100; i++) {
		fd = linkaddr_connect(a);
		if (fd >= 0 || (fd != -ECONNREFUSED && fd != -ENOENT))
			break;
		nanosleep(&(struct timespec){0, 100000000}, NULL);
	}
	if (fd < 0) {
		log_error("worker %u: cannot connect to the core at %s: %s", w->id, a, strerror(-fd));
		return fd;
	}
	w->link.fd = fd;
	return uplink_hello(w);
}

int uplink_hello(struct worker *w)
{
	char name[64];
	snprintf(name, sizeof name, "starling-cm/%d/%u", (int)getpid(), w->id);
	return wire_put_hello(&w->link.out, name);
}

void uplink_arm_recv(struct worker *w)
{
	struct uplink *l = &w->link;
	char *p = buf_reserve(&l->in, UPLINK_RECV_CHUNK);
	if (!p) {
		log_error("worker %u: out of memory on the link", w->id);
		w->stop = 1;
		return;
	}
	struct io_uring_sqe *sqe = worker_sqe(w);
	io_uring_prep_recv(sqe, l->fd, p, UPLINK_RECV_CHUNK, 0);
	io_uring_sqe_set_data64(sqe, worker_udata(OP_LINK_RECV, 0, 0));
	l->recv_armed = 1;
}

/* One stanza for several of this worker's sessions (a presence broadcast):
 * each gets it with its own 'to'.  A malformed frame is the core's bug: the
 * sessions it names before the fault still get theirs. */
static void uplink_multi(struct worker *w, const struct wire_frame *f)
{
	struct wire_stanza s;
	struct wire_reader r;
	uint32_t n, sid;
	struct wire_str to, all_to;
	if (wire_get_stanza_multi(f, &s, &n, &r)) {
		log_warn("worker %u: malformed STANZA_MULTI from the core", w->id);
		return;
	}
	all_to = s.to;
	for (uint32_t i = 0; i < n; i++) {
		wire_get_dest(&r, &sid, &to);
		if (r.err) {
			log_warn("worker %u: malformed STANZA_MULTI from the core", w->id);
			return;
		}
		struct conn *c = conn_by_sid(w, sid);
		if (!c)
			continue; /* the client left while the frame was on its way */
		s.to = to.len ? to : all_to;
		c2s_on_stanza(w, c, &s);
	}
}

const char *uplink_config_path;

/* starlingctl reload: the keys this worker reads where it uses them take
 * their new values in its own copy of the configuration (main gave each
 * worker one), so no other thread is touched; the core names the same keys
 * "applied" (core/control.c).  The rest wait for a restart. */
static void uplink_reload(struct worker *w)
{
	char err[512];
	struct config *next = malloc(sizeof *next); /* freed below */
	struct config *mine = (struct config *)w->cfg; /* main's, per worker */
	if (next)
		config_defaults(next);
	if (!next || !uplink_config_path ||
	    config_load(uplink_config_path, next, err, sizeof err)) {
		log_warn("worker %u: reload: %s", w->id, next ? err : "out of memory");
		free(next);
		return;
	}
	mine->read_rate = next->read_rate;
	mine->read_burst = next->read_burst;
	mine->auth_timeout = next->auth_timeout;
	mine->idle_timeout = next->idle_timeout;
	mine->ping_timeout = next->ping_timeout;
	mine->resume_timeout = next->resume_timeout;
	free(next);
	log_info("worker %u: configuration reloaded", w->id);
	/* The certificates: main's SIGHUP path, once per process. */
	if (w->id == 0 && kill(getpid(), SIGHUP))
		log_warn("worker %u: reload: %s", w->id, strerror(errno));
}

/* starlingctl log-level / reload, relayed by the core.  The level is the
 * process's; the certificates are reloaded by main's SIGHUP path, asked once
 * per process (worker 0), not once per worker. */
static void uplink_control(struct worker *w, const struct wire_frame *f)
{
	if (f->type == WIRE_RELOAD) {
		uplink_reload(w);
		return;
	}
	struct wire_reader r;
	wire_reader_init(&r, f);
	uint8_t lvl = wire_get_u8(&r);
	if (r.err || lvl > LOG_LEVEL_DEBUG) {
		log_warn("worker %u: bad LOG_LEVEL from the core", w->id);
		return;
	}
	__atomic_store_n(&log_current_level, (enum log_level)lvl, __ATOMIC_RELAXED);
	log_info("log level set to %u by starlingctl", lvl);
}

/* SESSION_OPEN with the client's address for `starlingctl sessions`: asked
 * of the socket once per bind, so no connection stores it. */
int uplink_session_open(struct worker *w, struct conn *c, const char *full)
{
	struct sockaddr_storage sa;
	socklen_t sl = sizeof sa;
	char host[INET6_ADDRSTRLEN] = "", addr[INET6_ADDRSTRLEN + 8] = "";
	if (getpeername(c->fd, (struct sockaddr *)&sa, &sl))
		sa.ss_family = AF_UNSPEC; /* sent as "": unknown */
	if (sa.ss_family == AF_INET) {
		struct sockaddr_in *v4 = (struct sockaddr_in *)&sa;
		inet_ntop(AF_INET, &v4->sin_addr, host, sizeof host);
		snprintf(addr, sizeof addr, "%s:%u", host, ntohs(v4->sin_port));
	} else if (sa.ss_family == AF_INET6) {
		struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&sa;
		inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof host);
		snprintf(addr, sizeof addr, "[%s]:%u", host, ntohs(v6->sin6_port));
	}
	struct wire_writer wr;
	wire_begin(&wr, &w->link.out, WIRE_SESSION_OPEN, c->sid);
	wire_put_cstr(&wr, full);
	wire_put_cstr(&wr, addr);
	return wire_end(&wr);
}

static void uplink_dispatch(struct worker *w, const struct wire_frame *f)
{
	linkack_received(&w->link.ack, f->type, w->now_ms);
	if (f->type == WIRE_ACK) {
		if (linkack_on_ack(&w->link.ack, f))
			uplink_lost(w, "acknowledgement beyond what was sent");
		else
			sm_link_acked(w);
		return;
	}
	if (f->type == WIRE_HELLO) {
		uint32_t version;
		struct wire_str name;
		if (wire_get_hello(f, &version, &name) || version != WIRE_VERSION) {
			log_error("worker %u: core speaks link version %u, we speak %u", w->id,
				  version, WIRE_VERSION);
			w->stop = 1;
			return;
		}
		w->link.up = 1;
		return;
	}
	if (f->type == WIRE_PING) {
		struct wire_reader r;
		wire_reader_init(&r, f);
		uint32_t token = wire_get_u32(&r);
		if (r.err || wire_put_u32_frame(&w->link.out, WIRE_PONG, 0, token))
			log_warn("worker %u: PING from the core not answered", w->id);
		return;
	}
	if (f->type == WIRE_PONG) {
		uplink_pong(w, f);
		return;
	}
	if (f->type == WIRE_FLOW)
		return;
	if (f->type == WIRE_LOG_LEVEL || f->type == WIRE_RELOAD) {
		uplink_control(w, f);
		return;
	}
	if (f->type == WIRE_TRACE) {
		trace_inbound(w, f, w->turn_ns);
		return;
	}
	if (f->type == WIRE_STANZA_MULTI) {
		uplink_multi(w, f);
		return;
	}
	if (f->type == WIRE_SESSION_UNPARKED) {
		if (sm_on_unparked(w, f))
			uplink_lost(w, "malformed SESSION_UNPARKED");
		return;
	}
	struct conn *c = conn_by_sid(w, f->sid);
	struct wire_stanza st;
	if (!c && f->type == WIRE_STANZA && !wire_get_stanza(f, &st))
		sm_give_back(w, &st); /* its session ended before the core knew */
	if (!c)
		return; /* the client left while the frame was on its way */
	struct wire_reader r;
	wire_reader_init(&r, f);
	switch (f->type) {
	case WIRE_STANZA: {
		struct wire_stanza s;
		if (wire_get_stanza(f, &s) == 0)
			c2s_on_stanza(w, c, &s);
		trace_delivered(w, f->sid);
		break;
	}
	case WIRE_CRED:
		c2s_on_cred(w, c, f);
		break;
	case WIRE_SESSION_OPENED:
		c2s_on_session_opened(w, c, wire_get_u8(&r));
		break;
	case WIRE_SESSION_CLOSE: {
		int reason = wire_get_u8(&r);
		int cond = reason == WIRE_CLOSE_KICK ? wire_get_u8(&r) : -1;
		c2s_on_session_close(w, c, reason, r.err ? -1 : cond);
		break;
	}
	default:
		log_warn("worker %u: unknown frame type %u from the core", w->id, f->type);
	}
}

void uplink_on_recv(struct worker *w, int res)
{
	struct uplink *l = &w->link;
	l->recv_armed = 0;
	if (l->down)
		return; /* the end of the old socket's receive */
	if (res <= 0) {
		uplink_lost(w, res ? strerror(-res) : "closed by the core");
		return;
	}
	buf_commit(&l->in, (size_t)res);
	while (buf_avail(&l->in)) {
		struct wire_frame f;
		long n = wire_parse((const uint8_t *)buf_head(&l->in), buf_avail(&l->in), &f);
		if (n == 0)
			break;
		if (n < 0) {
			uplink_lost(w, "malformed frame from the core");
			return;
		}
		uplink_dispatch(w, &f);
		buf_drop(&l->in, (size_t)n, UPLINK_KEEP);
	}
	uplink_arm_recv(w);
}

void uplink_flush(struct worker *w)
{
	struct uplink *l = &w->link;
	if (l->send_busy || l->fd < 0 || l->down)
		return;
	/* Rides on frames going out, or alone when due (lib/linkack.h). */
	if (l->up && linkack_put_ack(&l->ack, &l->out, w->now_ms))
		log_warn("worker %u: acknowledgement for the core not queued", w->id);
	if (!buf_avail(&l->sending) && buf_avail(&l->out)) {
		/* Kept until the core counts them: a lost link sends them again. */
		if (linkack_keep(&l->ack, buf_head(&l->out), buf_avail(&l->out)))
			log_error("worker %u: out of memory keeping stanzas for the core", w->id);
		struct buf t = l->sending;
		l->sending = l->out;
		l->out = t;
	}
	if (!buf_avail(&l->sending))
		return;
	struct io_uring_sqe *sqe = worker_sqe(w);
	io_uring_prep_send(sqe, l->fd, buf_head(&l->sending), buf_avail(&l->sending),
			   MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, worker_udata(OP_LINK_SEND, 0, 0));
	l->send_busy = 1;
}

void uplink_on_send(struct worker *w, int res)
{
	struct uplink *l = &w->link;
	l->send_busy = 0;
	if (l->down)
		return; /* `sending` is dropped at the reconnection */
	if (res < 0) {
		uplink_lost(w, strerror(-res));
		return;
	}
	buf_drop(&l->sending, (size_t)res, UPLINK_KEEP);
	if (w->link_paused && uplink_queued(l) < UPLINK_LOW)
		worker_resume_reading(w);
}

void uplink_free(struct uplink *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	buf_free(&l->in);
	buf_free(&l->out);
	buf_free(&l->sending);
	linkack_free(&l->ack);
}
