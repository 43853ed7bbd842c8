/* sm_resume: XEP-0198 §5, stream resumption.  A session whose client asked
 * for it outlives its connection by [c2s] resume_timeout: its slot stays
 * (CONN_DETACHED, no socket, no TLS, no buffers but the SM queue), the core
 * still sees it online and keeps sending; what arrives waits in the queue.
 * A new connection that authenticates as the same account and presents the
 * SM-ID gets the session back: its transport moves into the session's slot
 * (handoff.c, across workers when needed), the client's 'h' acknowledges
 * what it got, and the rest is sent again. */
#include "sm_int.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "c2s.h"
#include "connlimit.h"
#include "connlog.h"
#include "csi.h"
#include "lib/log.h"
#include "smid.h"
#include "worker.h"

/* The SM-ID: "<worker>.<sid>.<token>", where the session lives and a secret
 * (§5 lets the server encode what it likes; the client treats it as opaque).
 * The sid changes with every use of a slot, so an ID is never reused while
 * the process runs. */
#define PREVID_MAX (10 + 1 + 10 + 1 + HANDOFF_TOKEN_HEX + 1)

static void previd_of(struct worker *w, struct conn *c, char *out)
{
	struct sm_state *m = c->sm;
	snprintf(out, PREVID_MAX, "%u.%u.%s", m->from_core ? m->ask_worker : w->id,
		 m->from_core ? m->ask_sid : c->sid, m->token);
}

static int parse_previd(const char *s, unsigned *worker, uint32_t *sid, char *token)
{
	char *end;
	unsigned long wk = strtoul(s, &end, 10);
	if (end == s || *end != '.' || wk > 1024)
		return -1;
	s = end + 1;
	unsigned long id = strtoul(s, &end, 10);
	if (end == s || *end != '.' || id > UINT32_MAX)
		return -1;
	s = end + 1;
	if (strlen(s) != HANDOFF_TOKEN_HEX || strspn(s, "0123456789abcdef") != HANDOFF_TOKEN_HEX)
		return -1;
	memcpy(token, s, HANDOFF_TOKEN_HEX + 1);
	*worker = (unsigned)wk;
	*sid = (uint32_t)id;
	return 0;
}

int sm_resume_enable(struct worker *w, struct conn *c, xmlNodePtr enable)
{
	xmlChar *r = xmlGetProp(enable, (const xmlChar *)"resume");
	int want = r && (!xmlStrcmp(r, (const xmlChar *)"true") || !xmlStrcmp(r, (const xmlChar *)"1"));
	xmlFree(r);
	if (!want || !w->cfg->resume_timeout)
		return 0;
	struct sm_state *m = c->sm;
	c2s_random_hex(m->token, HANDOFF_TOKEN_HEX / 2);
	m->resumable = 1;
	char id[PREVID_MAX], x[PREVID_MAX + 120];
	previd_of(w, c, id);
	/* 'max': the longest we keep the session (§5, a preference we honour). */
	snprintf(x, sizeof x, "<enabled xmlns='" SM_NS "' id='%s' resume='true' max='%u'/>", id,
		 w->cfg->resume_timeout);
	conn_send_str(w, c, x);
	return 1;
}

/* Not a session of this cm: perhaps one the core keeps for a cm that
 * stopped (SESSION_PARK).  c, authenticated and unbound, waits for the
 * answer (sm_on_unparked) without an SM state of its own. */
static void ask_core(struct worker *w, struct conn *c, const struct handoff *h)
{
	struct sm_state *m;
	if (!w->link.up || w->link.down || !(m = calloc(1, sizeof *m))) {
		sm_failed(w, c, "item-not-found");
		return;
	}
	m->unparking = 1;
	m->ask_h = h->h;
	m->ask_sid = h->sid;
	m->ask_worker = h->target;
	memcpy(m->token, h->token, sizeof m->token);
	struct wire_writer wr;
	wire_begin(&wr, &w->link.out, WIRE_SESSION_UNPARK, c->sid);
	wire_put_cstr(&wr, c->jid);
	wire_put_str(&wr, h->token, HANDOFF_TOKEN_HEX);
	if (wire_end(&wr)) {
		free(m);
		sm_failed(w, c, "resource-constraint");
		return;
	}
	c->sm = m;
	conn_log(LOG_LEVEL_DEBUG, c, "asking the core for %s's session", c->jid);
}

/* <resume/> on an authenticated stream that has not bound (§5): the
 * transport goes to the worker that holds the session, which decides. */
void sm_resume_request(struct worker *w, struct conn *c, xmlNodePtr resume)
{
	if ((c->flags & CONN_BOUND) || c->sm) {
		sm_failed(w, c, "unexpected-request");
		return;
	}
	if (!w->cfg->resume_timeout) {
		sm_failed(w, c, "feature-not-implemented"); /* §5 */
		return;
	}
	struct handoff *h = calloc(1, sizeof *h);
	xmlChar *pv = xmlGetProp(resume, (const xmlChar *)"previd");
	int bad = !h || !pv || sm_get_h(resume, &h->h) ||
		  parse_previd((const char *)pv, &h->target, &h->sid, h->token);
	xmlFree(pv);
	if (!bad)
		smid_find(h->token, &h->target, &h->sid); /* taken up from the core since */
	if (!bad && h->target >= w->n_all) {
		/* Given out by a cm with more workers: only the core may know it. */
		ask_core(w, c, h);
		free(h);
		return;
	}
	if (bad || !(h->jid = strdup(c->jid))) {
		/* Not an ID we gave out: the client may bind instead (§5). */
		free(h);
		sm_failed(w, c, bad ? "item-not-found" : "resource-constraint");
		return;
	}
	handoff_start(w, c, h);
}

/* The session h asks for, if it is one this account may take up. */
static struct conn *session_for(struct worker *w, struct handoff *h)
{
	struct conn *c = conn_by_sid(w, h->sid);
	if (!c || !c->sm || !c->sm->resumable || !(c->flags & CONN_BOUND) || c->host != h->host)
		return NULL;
	if (CRYPTO_memcmp(c->sm->token, h->token, HANDOFF_TOKEN_HEX))
		return NULL;
	size_t n = strlen(h->jid);
	return !strncmp(c->jid, h->jid, n) && c->jid[n] == '/' ? c : NULL;
}

/* §5: everything unacknowledged again, in order, as one batch. */
static void retransmit(struct worker *w, struct conn *c)
{
	struct sm_state *m = c->sm;
	struct buf out = {0};
	const uint8_t *p = (const uint8_t *)buf_head(&m->q);
	size_t left = buf_avail(&m->q);
	for (uint32_t i = 0; i < m->n; i++) {
		struct wire_frame f;
		struct wire_stanza s;
		long len = wire_parse(p, left, &f);
		if (len <= 0)
			break;
		p += len;
		left -= (size_t)len;
		if (f.plen && !wire_get_stanza(&f, &s) && wire_stanza_render(&out, &s))
			conn_log(LOG_LEVEL_WARN, c, "cannot render a stanza to send again");
	}
	if (buf_avail(&out))
		conn_send(w, c, buf_head(&out), buf_avail(&out));
	buf_free(&out);
	m->r_out = 0;
	if (m->n) {
		conn_send_str(w, c, "<r xmlns='" SM_NS "'/>");
		m->r_out = 1;
	}
}

/* The detached session c takes h's transport. */
static void resume(struct worker *w, struct conn *c, struct handoff *h)
{
	struct sm_state *m = c->sm;
	if (sm_ack_to(m, h->h)) {
		/* The client claims more than was sent: neither side can trust the
		 * counts (§6), so the session ends and the client starts anew. */
		sm_resume_refuse(w, h);
		sm_expire(w, c);
		return;
	}
	conn_timer_clear(w, c);
	c->flags &= (uint32_t)~CONN_DETACHED;
	handoff_attach(w, c, h);
	if (w->cfg->idle_timeout)
		conn_timer_set(w, c, CONN_TIMER_IDLE, (uint64_t)w->cfg->idle_timeout * 1000);
	char id[PREVID_MAX], x[PREVID_MAX + 100];
	previd_of(w, c, id);
	snprintf(x, sizeof x, "<resumed xmlns='" SM_NS "' h='%u' previd='%s'/>", m->h_in, id);
	conn_send_str(w, c, x);
	conn_log(LOG_LEVEL_INFO, c,
		 "%s resumed on worker %u (connection from worker %u), %u stanza(s) sent again",
		 c->jid, w->id, h->source, m->n);
	retransmit(w, c);
	handoff_finish(w, c, h);
}

void sm_resume_refuse(struct worker *w, struct handoff *h)
{
	struct conn *c = handoff_new_conn(w, h);
	if (!c)
		return;
	sm_failed(w, c, "item-not-found");
	handoff_finish(w, c, h);
}

void sm_resume_arrive(struct worker *w, struct handoff *h)
{
	if (w->stop) {
		handoff_free(h);
		return;
	}
	struct conn *c = session_for(w, h);
	if (!c) {
		struct conn *n = handoff_new_conn(w, h);
		if (n) {
			ask_core(w, n, h);
			handoff_finish(w, n, h);
		}
	} else if (c->sm->pending) {
		sm_resume_refuse(w, h);
	} else if (c->flags & CONN_DETACHED) {
		resume(w, c, h);
	} else {
		/* §5: the old stream is still open here.  It is cut at once rather
		 * than closed with <conflict/>: a dead peer would hold the close for
		 * the whole drain timeout, and the client has left that stream. */
		conn_log(LOG_LEVEL_INFO, c, "%s resumed elsewhere; dropping its old connection", c->jid);
		c->sm->pending = h;
		conn_kill(w, c);
	}
}

void sm_no_resume(struct conn *c)
{
	if (c->sm && !c->sm->pending)
		c->sm->resumable = 0;
}

int sm_may_hibernate(struct worker *w, struct conn *c)
{
	struct sm_state *m = c->sm;
	return m && m->resumable && (c->flags & CONN_BOUND) && !w->stop &&
	       !(c->flags & (CONN_CLIENT_CLOSED | CONN_DETACHED));
}

int sm_hibernate(struct worker *w, struct conn *c)
{
	struct sm_state *m = c->sm;
	if (!sm_may_hibernate(w, c))
		return 0;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	connlimit_release(w->connlimit, c->peer);
	c->peer = NULL;
	conn_tls_free(w, c);
	buf_free(&c->plain);
	buf_free(&c->out);
	buf_free(&c->sending);
	xs_free(&c->xs);
	xs_init(&c->xs, w->cfg->max_stanza_size);
	auth_free(c);
	c->flags = CONN_AUTHED | CONN_BOUND | CONN_DETACHED | (c->flags & CONN_INACTIVE);
	csi_flush(w, c); /* held presence joins the queue, to be sent on resumption */
	c->flags &= (uint32_t)~CONN_INACTIVE; /* XEP-0352 §5: a new stream starts active */
	c->state = C2S_OPEN;
	m->r_out = 0;
	conn_timer_set(w, c, CONN_TIMER_RESUME, (uint64_t)w->cfg->resume_timeout * 1000);
	w->n_closed_by[c->close_reason]++;
	c->close_reason = 0;
	__atomic_fetch_add(&w->n_closed, 1, __ATOMIC_RELAXED); /* the transport is gone */
	if (m->pending) {
		struct handoff *h = m->pending;
		m->pending = NULL;
		resume(w, c, h);
	} else {
		conn_log(LOG_LEVEL_INFO, c, "connection lost; %s waits %u s for resumption", c->jid,
			 w->cfg->resume_timeout);
	}
	return 1;
}

void sm_expire(struct worker *w, struct conn *c)
{
	if (c->sm)
		c->sm->resumable = 0;
	if (c->flags & CONN_DEAD)
		return;
	conn_log(LOG_LEVEL_INFO, c, "%s not resumed; the session ends", c->jid);
	/* Released by the flush pass (conn_release then closes the session and
	 * returns the queue); until then conn_by_sid still finds it, so what
	 * the core sends meanwhile joins the queue. */
	c->flags |= CONN_DEAD;
	conn_timer_clear(w, c);
	conn_schedule_flush(w, c);
}

int sm_park(struct worker *w, struct conn *c)
{
	struct sm_state *m = c->sm;
	int detached = !!(c->flags & CONN_DETACHED);
	if (!m || !m->resumable || m->pending || !(c->flags & CONN_BOUND) || !w->link.up ||
	    w->link.down || buf_avail(&m->q) > WIRE_PARK_MAX_Q ||
	    (!detached && (c->state == C2S_CLOSING || (c->flags & (CONN_DEAD | CONN_CLIENT_CLOSED)))))
		return 0;
	if (!detached)
		csi_flush(w, c); /* held presence joins the queue */
	uint64_t left = (uint64_t)w->cfg->resume_timeout * 1000;
	if (detached)
		left = c->deadline_ms > w->now_ms ? c->deadline_ms - w->now_ms : 0;
	struct wire_park p = {
		.token = {m->token, HANDOFF_TOKEN_HEX},
		.secs = (uint32_t)((left + 999) / 1000),
		.h_in = m->h_in,
		.acked = m->acked,
		.n = m->n,
		.q = {buf_head(&m->q), (uint32_t)buf_avail(&m->q)},
	};
	if (wire_put_park(&w->link.out, c->sid, &p))
		return 0;
	conn_log(LOG_LEVEL_INFO, c, "%s parked on the core, %u stanza(s) unacknowledged", c->jid,
		 m->n);
	/* The core has the session: the slot goes without a close or returns. */
	c->flags &= (uint32_t)~CONN_BOUND;
	sm_free(c);
	if (!detached) {
		conn_kill(w, c);
		return 1;
	}
	c->flags |= CONN_DEAD;
	conn_timer_clear(w, c);
	conn_schedule_flush(w, c);
	return 1;
}

/* A session the core handed over that no connection here can take: it ends
 * as any session of ours, and the core routes what it held. */
static void hand_back(struct worker *w, uint32_t sid, const struct wire_park *p)
{
	if (wire_put_u8_frame(&w->link.out, WIRE_SESSION_CLOSE, sid, WIRE_CLOSE_DISCONNECT))
		log_error("worker %u: cannot close a session taken from the core", w->id);
	const uint8_t *q = (const uint8_t *)p->q.p;
	size_t left = p->q.len;
	struct wire_frame f;
	struct wire_stanza s;
	long len;
	for (; left && (len = wire_parse(q, left, &f)) > 0; q += len, left -= (size_t)len)
		if (!wire_get_stanza(&f, &s))
			sm_give_back(w, &s);
}

int sm_on_unparked(struct worker *w, const struct wire_frame *f)
{
	uint8_t status;
	struct wire_park p;
	if (wire_get_unparked(f, &status, &p))
		return -1;
	struct conn *c = conn_by_sid(w, f->sid);
	struct sm_state *m = c ? c->sm : NULL;
	size_t bare = c && c->jid ? strlen(c->jid) : 0;
	/* The stream that asked, still waiting, for a session of its account. */
	int usable = m && m->unparking && !(c->flags & (CONN_BOUND | CONN_DEAD)) &&
		     c->state == C2S_OPEN && p.jid.len > bare && !memcmp(p.jid.p, c->jid, bare) &&
		     p.jid.p[bare] == '/';
	uint32_t newly = usable ? m->ask_h - p.acked : 0;
	char *jid = NULL;
	if (!status && (!usable || newly > p.n || !(jid = wire_strdup(p.jid)))) {
		/* Gone, or counts neither side can trust (§6) */
		hand_back(w, f->sid, &p);
		status = 1;
	}
	if (!m || !m->unparking)
		return 0;
	if (status) {
		sm_free(c);
		sm_failed(w, c, "item-not-found"); /* the stream may bind instead (§5) */
		return 0;
	}
	free(c->jid);
	c->jid = jid;
	c->flags |= CONN_BOUND;
	m->unparking = 0;
	m->resumable = 1;
	m->from_core = 1;
	m->moved = !smid_add(m->token, w->id, c->sid);
	m->h_in = p.h_in;
	m->acked = p.acked;
	m->n = p.n;
	m->sent = p.acked + p.n;
	if (buf_append(&m->q, p.q.p, p.q.len)) {
		conn_log(LOG_LEVEL_WARN, c, "out of memory: %u stanza(s) to send again lost", m->n);
		m->n = 0;
		newly = 0;
	}
	sm_pop(m, newly);
	m->acked = m->ask_h;
	conn_timer_clear(w, c);
	if (w->cfg->idle_timeout)
		conn_timer_set(w, c, CONN_TIMER_IDLE, (uint64_t)w->cfg->idle_timeout * 1000);
	char id[PREVID_MAX], x[PREVID_MAX + 100];
	previd_of(w, c, id);
	snprintf(x, sizeof x, "<resumed xmlns='" SM_NS "' h='%u' previd='%s'/>", m->h_in, id);
	conn_send_str(w, c, x);
	conn_log(LOG_LEVEL_INFO, c, "%s resumed from the core on worker %u, %u stanza(s) sent again",
		 c->jid, w->id, m->n);
	retransmit(w, c);
	return 0;
}
