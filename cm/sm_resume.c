/* sm_resume: XEP-0198 §5, stream resumption.  A session whose client asked
 * for it outlives its connection by [c2s] resume_timeout: its slot stays
 * (CONN_DETACHED, no socket, no TLS, no buffers but the SM queue), the core
 * still sees it online and keeps sending; what arrives waits in the queue.
 * A new connection that authenticates as the same account and presents the
 * SM-ID gets the session back: its transport moves into the session's slot
 * (handoff.c, across workers when needed), the client's 'h' acknowledges
 * what it got, and the rest is sent again.  An SM-ID this cm does not hold
 * may be a session the core keeps for a cm that stopped (sm_park.c). */
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

/* The sid changes with every use of a slot, so an ID is never reused while
 * the process runs; one taken up from the core stays its client's. */
void sm_previd(struct worker *w, struct conn *c, char *out)
{
	struct sm_state *m = c->sm;
	snprintf(out, SM_PREVID_MAX, "%u.%u.%s", m->from_core ? m->ask_worker : w->id,
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
	char id[SM_PREVID_MAX], x[SM_PREVID_MAX + 120];
	sm_previd(w, c, id);
	/* 'max': the longest we keep the session (§5, a preference we honour). */
	snprintf(x, sizeof x, "<enabled xmlns='" SM_NS "' id='%s' resume='true' max='%u'/>", id,
		 w->cfg->resume_timeout);
	conn_send_str(w, c, x);
	return 1;
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
		sm_ask_core(w, c, h);
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

void sm_resumed(struct worker *w, struct conn *c)
{
	if (w->cfg->idle_timeout)
		conn_timer_set(w, c, CONN_TIMER_IDLE, (uint64_t)w->cfg->idle_timeout * 1000);
	char id[SM_PREVID_MAX], x[SM_PREVID_MAX + 100];
	sm_previd(w, c, id);
	snprintf(x, sizeof x, "<resumed xmlns='" SM_NS "' h='%u' previd='%s'/>", c->sm->h_in, id);
	conn_send_str(w, c, x);
	retransmit(w, c);
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
	conn_log(LOG_LEVEL_INFO, c,
		 "%s resumed on worker %u (connection from worker %u), %u stanza(s) sent again",
		 c->jid, w->id, h->source, m->n);
	sm_resumed(w, c);
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
			sm_ask_core(w, n, h);
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

