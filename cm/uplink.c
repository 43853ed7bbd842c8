#include "uplink.h"

#include <errno.h>
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
#include "sm.h"
#include "lib/linkaddr.h"
#include "lib/log.h"
#include "worker.h"

#define UPLINK_RECV_CHUNK 65536
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

void uplink_report(struct worker *w)
{
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

static void uplink_dispatch(struct worker *w, const struct wire_frame *f)
{
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
	if (f->type == WIRE_PONG || f->type == WIRE_FLOW)
		return;
	if (f->type == WIRE_STANZA_MULTI) {
		uplink_multi(w, f);
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
		break;
	}
	case WIRE_CRED:
		c2s_on_cred(w, c, f);
		break;
	case WIRE_SESSION_OPENED:
		c2s_on_session_opened(w, c, wire_get_u8(&r));
		break;
	case WIRE_SESSION_CLOSE:
		c2s_on_session_close(w, c, wire_get_u8(&r));
		break;
	default:
		log_warn("worker %u: unknown frame type %u from the core", w->id, f->type);
	}
}

void uplink_on_recv(struct worker *w, int res)
{
	struct uplink *l = &w->link;
	l->recv_armed = 0;
	if (res <= 0) {
		if (!w->stop)
			log_error("worker %u: link to the core lost: %s", w->id,
				  res ? strerror(-res) : "closed");
		/* Without the core no session can work: stop the whole cm so the
		 * supervisor restarts it with the core. */
		w->stop = 2;
		return;
	}
	buf_commit(&l->in, (size_t)res);
	while (buf_avail(&l->in)) {
		struct wire_frame f;
		long n = wire_parse((const uint8_t *)buf_head(&l->in), buf_avail(&l->in), &f);
		if (n == 0)
			break;
		if (n < 0) {
			log_error("worker %u: malformed frame from the core", w->id);
			w->stop = 2;
			return;
		}
		uplink_dispatch(w, &f);
		buf_consume(&l->in, (size_t)n);
	}
	uplink_arm_recv(w);
}

void uplink_flush(struct worker *w)
{
	struct uplink *l = &w->link;
	if (l->send_busy || l->fd < 0)
		return;
	if (!buf_avail(&l->sending) && buf_avail(&l->out)) {
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
	if (res < 0) {
		if (!w->stop)
			log_error("worker %u: link send failed: %s", w->id, strerror(-res));
		w->stop = 2;
		return;
	}
	buf_consume(&l->sending, (size_t)res);
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
}
