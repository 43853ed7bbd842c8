#include "conn.h"
#include "csi.h"
#include "shape.h"
#include "sm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth.h"
#include "c2s.h"
#include "connlog.h"
#include "handoff.h"
#include "connlimit.h"
#include "lib/log.h"
#include "worker.h"

int conn_table_init(struct worker *w, uint32_t max)
{
	if (max == 0 || max > CONN_MAX_SLOTS)
		max = CONN_MAX_SLOTS;
	/* calloc'd: untouched slots cost no resident memory. */
	w->slots = calloc(max, sizeof *w->slots);
	w->free_slots = malloc(max * sizeof *w->free_slots);
	if (!w->slots || !w->free_slots)
		return -ENOMEM;
	w->max_slots = max;
	/* Hand out low slots first so the touched part of the table stays small. */
	for (uint32_t i = 0; i < max; i++)
		w->free_slots[i] = max - 1 - i;
	w->n_free = max;
	for (uint32_t i = 0; i < max; i++)
		w->slots[i].fd = -1;
	return 0;
}

static void conn_release(struct worker *w, struct conn *c)
{
	if (c->flags & CONN_HANDOFF)
		handoff_take(w, c); /* the transport lives on in another slot */
	else if (sm_hibernate(w, c))
		return; /* the session lives on without its transport */
	int had_transport = !(c->flags & CONN_DETACHED);
	uint8_t reason = c->close_reason;
	conn_timer_clear(w, c);
	c2s_on_close(w, c);
	connlimit_release(w->connlimit, c->peer);
	if (c->fd >= 0)
		close(c->fd);
	conn_tls_free(w, c);
	auth_free(c);
	csi_free(c);
	sm_free(c);
	free(c->jid);
	buf_free(&c->presence);
	buf_free(&c->plain);
	buf_free(&c->out);
	buf_free(&c->sending);
	xs_free(&c->xs);
	uint32_t gen = c->gen + 1;
	memset(c, 0, sizeof *c);
	c->fd = -1;
	c->gen = gen;
	w->free_slots[w->n_free++] = conn_slot(w, c);
	if (had_transport) { /* a detached one was counted when it lost it */
		w->n_closed_by[reason]++;
		__atomic_fetch_add(&w->n_closed, 1, __ATOMIC_RELAXED); /* read by main for stats */
	}
}

void conn_table_free(struct worker *w)
{
	if (!w->stop)
		w->stop = 1; /* the end of the worker: no session may wait (sm_hibernate) */
	for (uint32_t i = 0; w->slots && i < w->max_slots; i++) {
		struct conn *c = &w->slots[i];
		if (c->fd >= 0 || conn_tls(c) || c->jid)
			conn_release(w, c);
	}
	free(w->slots);
	free(w->free_slots);
	w->slots = NULL;
	w->free_slots = NULL;
}

uint32_t conn_slot(struct worker *w, const struct conn *c) { return (uint32_t)(c - w->slots); }

void conn_tls_free(struct worker *w, struct conn *c)
{
	if (c->ssl)
		SSL_free(c->ssl);
	/* With ssl, lean was only waiting for the handshake: not counted yet. */
	if (c->lean && !c->ssl)
		w->n_tls_lean--;
	tls_lean_free(c->lean);
	c->ssl = NULL;
	c->lean = NULL;
}

struct conn *conn_alloc(struct worker *w, int fd)
{
	if (!w->n_free)
		return NULL;
	uint32_t slot = w->free_slots[--w->n_free];
	struct conn *c = &w->slots[slot];
	c->fd = fd;
	c->sid = slot | (c->gen & 0xfff) << CONN_SLOT_BITS;
	xs_init(&c->xs, w->cfg->max_stanza_size);
	return c;
}

struct conn *conn_by_sid(struct worker *w, uint32_t sid)
{
	uint32_t slot = conn_slot_of_sid(sid);
	if (slot >= w->max_slots)
		return NULL;
	struct conn *c = &w->slots[slot];
	if (c->sid != sid)
		return NULL;
	/* A dead or detached slot is found until it is released: what the core
	 * sends its session meanwhile joins the XEP-0198 queue, to be sent on a
	 * resumption or returned at the session's end, not lost. */
	return c->fd >= 0 || (c->flags & CONN_DETACHED) ? c : NULL;
}

void conn_schedule_flush(struct worker *w, struct conn *c)
{
	if (c->flags & CONN_IN_FLUSH)
		return;
	c->flags |= CONN_IN_FLUSH;
	c->next_flush = w->flush_head;
	w->flush_head = conn_slot(w, c) + 1;
}

int conn_encrypt(struct worker *w, struct conn *c)
{
	if (!buf_avail(&c->plain))
		return 0;
	w->tio.out = &c->out;
	int rc = c->ssl ? tls_write(c->ssl, buf_head(&c->plain), buf_avail(&c->plain))
			: rec_write(&c->lean->rec, buf_head(&c->plain), buf_avail(&c->plain), &c->out);
	buf_free(&c->plain);
	if (rc)
		conn_kill(w, c);
	return rc;
}

int conn_send(struct worker *w, struct conn *c, const char *data, size_t len)
{
	if (c->flags & CONN_DEAD)
		return -EPIPE;
	/* Under TLS the plaintext of a whole turn becomes one SSL_write at flush:
	 * one record for many stanzas instead of one each. */
	int rc = buf_append(conn_tls(c) ? &c->plain : &c->out, data, len);
	if (rc == 0 && conn_queued(c) > CONN_MAX_QUEUED) {
		conn_set_close_reason(c, CONN_CLOSE_SEND_FAILED);
		/* The client reads slower than it is sent to; holding more would let
		 * one reader exhaust our memory. */
		conn_log(LOG_LEVEL_INFO, c, "send queue over %u bytes, dropping", CONN_MAX_QUEUED);
		conn_kill(w, c);
		return -ENOBUFS;
	}
	if (rc)
		conn_kill(w, c);
	else
		conn_schedule_flush(w, c);
	return rc;
}

int conn_send_str(struct worker *w, struct conn *c, const char *s)
{
	return conn_send(w, c, s, strlen(s));
}

void conn_close(struct worker *w, struct conn *c)
{
	if (c->state == C2S_CLOSING || (c->flags & CONN_DEAD))
		return;
	c2s_on_going(w, c);
	c->state = C2S_CLOSING;
	/* A client that stops reading must not hold the slot forever. */
	conn_timer_set(w, c, CONN_TIMER_CLOSING, CONN_CLOSE_GRACE_MS);
	if (conn_tls(c) && conn_encrypt(w, c) == 0) {
		w->tio.out = &c->out;
		/* close_notify after everything we queued */
		if (c->ssl)
			tls_shutdown(c->ssl);
		else
			rec_close(&c->lean->rec, &c->out); /* nothing after a failure */
	}
	conn_schedule_flush(w, c);
	/* The flush closes the socket once the queue is empty. */
}

void conn_kill(struct worker *w, struct conn *c)
{
	if (c->flags & CONN_DEAD)
		return;
	if (c->state != C2S_CLOSING)
		c2s_on_going(w, c);
	c->flags |= CONN_DEAD;
	/* shutdown() ends the outstanding multishot recv (it completes with 0),
	 * so the slot drains without an explicit cancel. */
	shutdown(c->fd, SHUT_RDWR);
	/* Released by the flush pass, never under the caller's feet. */
	conn_schedule_flush(w, c);
}

void conn_op_done(struct worker *w, struct conn *c)
{
	if (c->inflight)
		c->inflight--;
	if ((c->flags & CONN_DEAD) && !c->inflight)
		conn_schedule_flush(w, c);
}

/* Our close is out.  Closing a socket with unread input makes the kernel
 * answer with a reset, and a reset makes the client's kernel drop what the
 * client had not read yet, our stream error included.  So shut our half and
 * keep reading (and discarding) until the client closes its half or the
 * closing timer cuts it: a lingering close.  The session has ended already
 * (c2s_on_going, at conn_close) unless it may be resumed; the framer's
 * buffer is not needed any more. */
static void conn_linger(struct worker *w, struct conn *c)
{
	if ((c->flags & CONN_INPUT_DONE) ||
	    !(c->flags & (CONN_RECV_ARMED | CONN_PAUSED | CONN_SHAPED))) {
		conn_kill(w, c);
		return;
	}
	if (c->flags & CONN_WR_SHUT)
		return;
	c->flags |= CONN_WR_SHUT;
	shutdown(c->fd, SHUT_WR);
	c2s_on_going(w, c); /* a session that may be resumed waits for the release */
	shape_linger(c);
	xs_free(&c->xs);
}

static void conn_flush(struct worker *w, struct conn *c)
{
	if (c->flags & CONN_DEAD) {
		if (!c->inflight)
			conn_release(w, c);
		return;
	}
	if (conn_tls(c) && conn_encrypt(w, c))
		return;
	if (c->flags & CONN_SENDING)
		return; /* the send completion flushes again */
	if (!buf_avail(&c->sending) && buf_avail(&c->out)) {
		struct buf t = c->sending;
		c->sending = c->out;
		c->out = t;
	}
	if (buf_avail(&c->sending)) {
		struct io_uring_sqe *sqe = worker_sqe(w);
		io_uring_prep_send(sqe, c->fd, buf_head(&c->sending), buf_avail(&c->sending),
				   MSG_NOSIGNAL);
		io_uring_sqe_set_data64(sqe, worker_udata(OP_SEND, c->gen, conn_slot(w, c)));
		c->flags |= CONN_SENDING;
		c->inflight++;
	} else if (c->state == C2S_CLOSING) {
		conn_linger(w, c);
	}
}

void conn_flush_all(struct worker *w)
{
	while (w->flush_head) {
		struct conn *c = &w->slots[w->flush_head - 1];
		w->flush_head = c->next_flush;
		c->flags &= ~CONN_IN_FLUSH;
		conn_flush(w, c);
	}
}

void conn_on_send(struct worker *w, struct conn *c, int res)
{
	c->flags &= ~CONN_SENDING;
	if (res < 0) {
		conn_set_close_reason(c, CONN_CLOSE_SEND_FAILED);
		if (res != -EPIPE && res != -ECONNRESET)
			conn_log(LOG_LEVEL_DEBUG, c, "send: %s", strerror(-res));
		conn_kill(w, c);
	} else {
		buf_consume(&c->sending, (size_t)res);
		w->n_bytes_out += (uint64_t)res;
		conn_schedule_flush(w, c);
	}
	conn_op_done(w, c);
}

void conn_timer_clear(struct worker *w, struct conn *c)
{
	if (c->timer == CONN_TIMER_NONE)
		return;
	struct conn_timer_list *l = &w->timers[c->timer];
	if (c->timer_prev)
		w->slots[c->timer_prev - 1].timer_next = c->timer_next;
	else
		l->head = c->timer_next;
	if (c->timer_next)
		w->slots[c->timer_next - 1].timer_prev = c->timer_prev;
	else
		l->tail = c->timer_prev;
	c->timer_prev = c->timer_next = 0;
	c->timer = CONN_TIMER_NONE;
}

void conn_timer_set(struct worker *w, struct conn *c, enum conn_timer list, uint64_t timeout_ms)
{
	conn_timer_clear(w, c);
	struct conn_timer_list *l = &w->timers[list];
	uint32_t self = conn_slot(w, c) + 1;
	c->timer = (uint8_t)list;
	c->deadline_ms = w->now_ms + timeout_ms;
	c->timer_prev = l->tail;
	if (l->tail)
		w->slots[l->tail - 1].timer_next = self;
	else
		l->head = self;
	l->tail = self;
}

void conn_timers_run(struct worker *w)
{
	for (int list = CONN_TIMER_LOGIN; list < CONN_TIMER_LISTS; list++) {
		struct conn_timer_list *l = &w->timers[list];
		while (l->head && w->slots[l->head - 1].deadline_ms <= w->now_ms) {
			struct conn *c = &w->slots[l->head - 1];
			conn_timer_clear(w, c);
			if (list == CONN_TIMER_LOGIN) {
				conn_log(LOG_LEVEL_INFO, c, "login not finished in %u s",
					 w->cfg->auth_timeout);
				c2s_stream_error(w, c, SE_CONNECTION_TIMEOUT);
			} else if (list == CONN_TIMER_IDLE) {
				c2s_ping(w, c);
			} else if (list == CONN_TIMER_RESUME) {
				sm_expire(w, c);
			} else if (list == CONN_TIMER_PING) {
				conn_log(LOG_LEVEL_INFO, c, "no answer to our ping in %u s",
					 w->cfg->ping_timeout);
				c2s_stream_error(w, c, SE_CONNECTION_TIMEOUT);
			} else {
				conn_log(LOG_LEVEL_INFO, c, "close not drained in %u s, cutting",
					 CONN_CLOSE_GRACE_MS / 1000);
				conn_kill(w, c);
			}
		}
	}
}
