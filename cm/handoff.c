/* handoff: a client's transport moving between slots and workers. */
#include "handoff.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "c2s.h"
#include "conn.h"
#include "connlimit.h"
#include "connlog.h"
#include "shape.h"
#include "lib/log.h"
#include "worker.h"

static struct handoff **find(struct worker *w, struct conn *c)
{
	struct handoff **p = &w->handoffs;
	while (*p && ((*p)->src_slot != conn_slot(w, c) || (*p)->src_gen != c->gen))
		p = &(*p)->next;
	return p;
}

void handoff_start(struct worker *w, struct conn *c, struct handoff *h)
{
	h->fd = -1;
	h->source = w->id;
	h->src_slot = conn_slot(w, c);
	h->src_gen = c->gen;
	h->next = w->handoffs;
	w->handoffs = h;
	/* What this turn queued (a pipelined header's answer) goes out first. */
	if (conn_tls(c))
		conn_encrypt(w, c);
	conn_set_close_reason(c, CONN_CLOSE_HANDOFF);
	c->flags |= CONN_DEAD | CONN_HANDOFF;
	conn_timer_clear(w, c);
	if (c->flags & CONN_RECV_ARMED)
		worker_cancel_recv(w, c);
	conn_schedule_flush(w, c); /* released once nothing in flight names it */
}

void handoff_carry(struct worker *w, struct conn *c, const void *p, size_t n)
{
	struct handoff *h = *find(w, c);
	if (h && buf_append(&h->in, p, n))
		conn_log(LOG_LEVEL_WARN, c,
			 "out of memory carrying %zu bytes to the resumed session", n);
}

/* Moves the bytes of src to the end of dst; src is left empty. */
static int buf_move(struct buf *dst, struct buf *src)
{
	int rc = 0;
	if (!buf_avail(dst)) {
		buf_free(dst);
		*dst = *src;
		memset(src, 0, sizeof *src);
		return 0;
	}
	rc = buf_append(dst, buf_head(src), buf_avail(src));
	buf_free(src);
	return rc;
}

void handoff_take(struct worker *w, struct conn *c)
{
	struct handoff **p = find(w, c), *h = *p;
	if (!h)
		return; /* cannot happen: the flag and the list go together */
	*p = h->next;
	h->next = NULL;
	h->fd = c->fd;
	h->ssl = c->ssl;
	h->lean = c->lean;
	if (c->lean && !c->ssl)
		w->n_tls_lean--; /* counted on the target from here on */
	h->xs = c->xs;
	h->host = c->host;
	h->flags = c->flags & (CONN_TLS | CONN_DIRECT_TLS);
	h->limits = w->connlimit;
	h->peer = c->peer;
	c->peer = NULL;
	c->fd = -1;
	c->ssl = NULL;
	c->lean = NULL;
	memset(&c->xs, 0, sizeof c->xs);
	/* Sent-but-not-taken bytes precede the queued ones. */
	int rc = buf_move(&h->out, &c->sending) | buf_move(&h->out, &c->out);
	if (rc || h->target >= w->n_all || !__atomic_load_n(&w->all[h->target].ready,
							     __ATOMIC_ACQUIRE)) {
		handoff_free(h);
		return;
	}
	struct io_uring_sqe *sqe = worker_sqe(w);
	io_uring_prep_msg_ring(sqe, w->all[h->target].ring.ring_fd, 0,
			       (uint64_t)OP_HANDOFF << 56 | (uintptr_t)h, 0);
	io_uring_sqe_set_data64(sqe, (uint64_t)OP_HANDOFF_SENT << 56 | (uintptr_t)h);
}

void handoff_sent(struct worker *w, struct handoff *h, int res)
{
	/* On success the target owns h and may have freed it already. */
	if (res >= 0)
		return;
	log_warn("worker %u: cannot hand a connection to worker %u: %s", w->id, h->target,
		 strerror(-res));
	handoff_free(h);
}

void handoff_attach(struct worker *w, struct conn *c, struct handoff *h)
{
	c->fd = h->fd;
	c->ssl = h->ssl;
	if (c->ssl)
		tls_rebind(c->ssl, &w->tio);
	/* The record state is keys and counters: any thread may carry on with
	 * it (record.c's cipher contexts are per thread). */
	c->lean = h->lean;
	if (c->lean && !c->ssl)
		w->n_tls_lean++;
	h->lean = NULL;
	xs_free(&c->xs);
	c->xs = h->xs;
	c->flags |= h->flags;
	c->out = h->out;
	c->peer = h->peer;
	shape_init(w, c); /* a new connection: a full read allowance */
	h->peer = NULL;
	h->fd = -1;
	h->ssl = NULL;
	memset(&h->xs, 0, sizeof h->xs);
	memset(&h->out, 0, sizeof h->out);
	__atomic_fetch_add(&w->n_accepted, 1, __ATOMIC_RELAXED);
	worker_arm_recv(w, c);
	if (buf_avail(&c->out))
		conn_schedule_flush(w, c);
}

struct conn *handoff_new_conn(struct worker *w, struct handoff *h)
{
	struct conn *c = conn_alloc(w, h->fd);
	if (!c) {
		w->n_refused++;
		handoff_free(h);
		return NULL;
	}
	handoff_attach(w, c, h); /* c->fd is h->fd already */
	c->host = h->host;
	c->jid = h->jid;
	h->jid = NULL;
	c->flags |= CONN_AUTHED;
	c->state = C2S_OPEN;
	/* Authenticated, not bound: the rest of the login deadline applies. */
	conn_timer_set(w, c, CONN_TIMER_LOGIN, (uint64_t)w->cfg->auth_timeout * 1000);
	return c;
}

void handoff_finish(struct worker *w, struct conn *c, struct handoff *h)
{
	if (buf_avail(&h->in))
		c2s_on_data(w, c, buf_head(&h->in), buf_avail(&h->in));
	handoff_free(h);
}

void handoff_free(struct handoff *h)
{
	if (!h)
		return;
	if (h->fd >= 0)
		close(h->fd);
	if (h->ssl)
		SSL_free(h->ssl);
	tls_lean_free(h->lean);
	xs_free(&h->xs);
	connlimit_release(h->limits, h->peer);
	buf_free(&h->out);
	buf_free(&h->in);
	free(h->jid);
	free(h);
}
