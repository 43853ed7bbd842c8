/* sm: the counters and the queue of XEP-0198 §4 for one connection. */
#include "sm_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c2s.h"
#include "connlog.h"
#include "lib/log.h"
#include "smid.h"
#include "worker.h"

size_t sm_head_len(struct sm_state *m, struct wire_frame *f)
{
	long n = wire_parse((const uint8_t *)buf_head(&m->q), buf_avail(&m->q), f);
	return n > 0 ? (size_t)n : buf_avail(&m->q);
}

void sm_free(struct conn *c)
{
	if (!c->sm)
		return;
	if (c->sm->moved)
		smid_del(c->sm->token);
	buf_free(&c->sm->q);
	handoff_free(c->sm->pending);
	free(c->sm);
	c->sm = NULL;
}

void sm_failed(struct worker *w, struct conn *c, const char *cond)
{
	char x[200];
	snprintf(x, sizeof x, "<failed xmlns='" SM_NS "'><%s xmlns='"
		 "urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>", cond);
	conn_send_str(w, c, x);
}

/* §3: after binding, once. */
void sm_enable(struct worker *w, struct conn *c, xmlNodePtr node)
{
	if (!(c->flags & CONN_BOUND) || c->sm) {
		sm_failed(w, c, "unexpected-request");
		return;
	}
	if (!(c->sm = calloc(1, sizeof *c->sm))) {
		sm_failed(w, c, "resource-constraint");
		return;
	}
	/* Without 'resume' the client knows the session ends with the stream. */
	if (!sm_resume_enable(w, c, node))
		conn_send_str(w, c, "<enabled xmlns='" SM_NS "'/>");
}

void sm_pop(struct sm_state *m, uint32_t k)
{
	struct wire_frame f;
	for (; k && m->n; k--, m->n--)
		buf_consume(&m->q, sm_head_len(m, &f));
	if (!m->n)
		buf_free(&m->q); /* an idle acked connection keeps no buffer */
}

int sm_get_h(xmlNodePtr node, uint32_t *h)
{
	xmlChar *hs = xmlGetProp(node, (const xmlChar *)"h");
	char *end = NULL;
	unsigned long v = hs ? strtoul((const char *)hs, &end, 10) : 0;
	int ok = hs && end && end != (char *)hs && !*end && *hs != '-' && v <= UINT32_MAX;
	xmlFree(hs);
	*h = (uint32_t)v;
	return ok ? 0 : -1;
}

int sm_ack_to(struct sm_state *m, uint32_t h)
{
	uint32_t newly = h - m->acked;
	if (newly > m->n)
		return -1;
	sm_pop(m, newly);
	m->acked = h;
	return 0;
}

/* §4: the client handled everything up to 'h'. */
static void on_ack(struct worker *w, struct conn *c, const struct stanza *s)
{
	struct sm_state *m = c->sm;
	uint32_t h;
	int ok = !sm_get_h(s->root, &h);
	if (!ok || sm_ack_to(m, h)) {
		/* §6: more than we sent (or no number at all). */
		char app[160];
		snprintf(app, sizeof app,
			 "<handled-count-too-high xmlns='" SM_NS "' h='%u' send-count='%u'/>",
			 ok ? h : 0, m->sent);
		c2s_stream_error_app(w, c, SE_UNDEFINED_CONDITION, app);
		return;
	}
	m->r_out = 0;
}

int sm_nonza(struct worker *w, struct conn *c, const struct stanza *s)
{
	if (!s->ns || strcmp(s->ns, SM_NS) || !(c->flags & CONN_AUTHED))
		return 0;
	if (!strcmp(s->name, "enable"))
		sm_enable(w, c, s->root);
	else if (!strcmp(s->name, "resume"))
		sm_resume_request(w, c, s->root);
	else if (!c->sm)
		return 0; /* r and a before enable: not a nonza we know */
	else if (!strcmp(s->name, "r"))
		sm_reply_request(w, c);
	else if (!strcmp(s->name, "a"))
		on_ack(w, c, s);
	else
		return 0;
	return 1;
}

void sm_inbound(struct conn *c)
{
	if (c->sm)
		c->sm->h_in++;
}

/* Queues the entry for a stanza sent as data (s: the core's, or NULL). */
static int keep(struct sm_state *m, const char *data, size_t len, const struct wire_stanza *s)
{
	if (s && wire_stanza_returnable(s))
		return wire_put_stanza_return(&m->q, s);
	if (m->resumable && len) {
		/* The bytes themselves, to send again after a resumption. */
		struct wire_stanza own = {.kind = STANZA_OTHER, .xml = {data, (uint32_t)len}};
		return wire_put_stanza_return(&m->q, &own);
	}
	struct wire_writer wr;
	wire_begin(&wr, &m->q, WIRE_STANZA_RETURN, 0);
	return wire_end(&wr);
}

/* A stanza went to the client (or waits for it: going).  Asks for an ack
 * when none is pending. */
static void sent(struct worker *w, struct conn *c, const char *data, size_t len,
		 const struct wire_stanza *s, int going)
{
	struct sm_state *m = c->sm;
	if (keep(m, data, len, s)) {
		conn_log(LOG_LEVEL_WARN, c, "cannot keep an unacknowledged stanza");
		c2s_stream_error(w, c, SE_RESOURCE_CONSTRAINT);
		return;
	}
	m->sent++;
	if (++m->n > SM_MAX_UNACKED || buf_avail(&m->q) > SM_MAX_QUEUE_BYTES) {
		c2s_stream_error(w, c, SE_RESOURCE_CONSTRAINT);
		return;
	}
	if (!m->r_out && !going) {
		/* One request per burst: the answer covers all sent before it. */
		conn_send_str(w, c, "<r xmlns='" SM_NS "'/>");
		m->r_out = 1;
	}
}

void sm_give_back(struct worker *w, const struct wire_stanza *s)
{
	if (wire_stanza_returnable(s) && wire_put_stanza_return(&w->link.out, s))
		log_error("worker %u: cannot return a stanza to the core", w->id);
}

void sm_return_unacked(struct worker *w, struct conn *c)
{
	struct sm_state *m = c->sm;
	uint32_t returned = 0;
	while (m && m->n) {
		struct wire_frame f;
		struct wire_stanza s;
		size_t len = sm_head_len(m, &f);
		if (f.plen && !wire_get_stanza(&f, &s) && wire_stanza_returnable(&s) &&
		    !buf_append(&w->link.out, buf_head(&m->q), len))
			returned++;
		buf_consume(&m->q, len);
		m->n--;
	}
	if (returned)
		conn_log(LOG_LEVEL_INFO, c, "%u unacknowledged stanza(s) returned to the core",
			 returned);
	if (m && m->pending) {
		/* The session this resumption waited for ended instead (§5). */
		struct handoff *h = m->pending;
		m->pending = NULL;
		sm_resume_refuse(w, h);
	}
	sm_free(c);
}

int sm_send(struct worker *w, struct conn *c, const char *data, size_t len,
	    const struct wire_stanza *s)
{
	/* Without a transport (detached, §5) or losing it, the stanza only
	 * waits in the queue: for a resumption, or the core at the end. */
	int going = (c->flags & (CONN_DETACHED | CONN_DEAD)) || c->state == C2S_CLOSING;
	int rc = going ? 0 : conn_send(w, c, data, len);
	if (!rc && c->sm)
		sent(w, c, data, len, s, going);
	return rc;
}
