/* sm: the counters and the queue of XEP-0198 §4 for one connection. */
#include "sm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c2s.h"
#include "lib/log.h"
#include "worker.h"

/* Allocated by <enable/>: a connection without SM owns nothing here. */
struct sm_state {
	uint32_t h_in;	/* stanzas from the client handled (§4), mod 2^32 */
	uint32_t sent;	/* stanzas sent since <enabled/>, mod 2^32 */
	uint32_t acked; /* the client's last 'h' */
	uint32_t n;	/* entries in q: sent - acked */
	uint8_t r_out;	/* our <r/> is unanswered */
	/* One STANZA_RETURN frame per unacknowledged stanza, oldest first; a
	 * frame without payload stands for one not worth returning. */
	struct buf q;
};

/* The length of the oldest queued frame (the queue holds whole frames). */
static size_t head_len(struct sm_state *m, struct wire_frame *f)
{
	long n = wire_parse((const uint8_t *)buf_head(&m->q), buf_avail(&m->q), f);
	return n > 0 ? (size_t)n : buf_avail(&m->q);
}

void sm_free(struct conn *c)
{
	if (c->sm)
		buf_free(&c->sm->q);
	free(c->sm);
	c->sm = NULL;
}

static void failed(struct worker *w, struct conn *c, const char *cond)
{
	char x[200];
	snprintf(x, sizeof x, "<failed xmlns='" SM_NS "'><%s xmlns='"
		 "urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>", cond);
	conn_send_str(w, c, x);
}

/* §3: after binding, once. */
static void enable(struct worker *w, struct conn *c)
{
	if (!(c->flags & CONN_BOUND) || c->sm) {
		failed(w, c, "unexpected-request");
		return;
	}
	if (!(c->sm = calloc(1, sizeof *c->sm))) {
		failed(w, c, "resource-constraint");
		return;
	}
	/* No 'resume': resumption is not offered (§5), so the client knows. */
	conn_send_str(w, c, "<enabled xmlns='" SM_NS "'/>");
}

/* Drops the k oldest entries. */
static void pop(struct sm_state *m, uint32_t k)
{
	struct wire_frame f;
	for (; k && m->n; k--, m->n--)
		buf_consume(&m->q, head_len(m, &f));
	if (!m->n)
		buf_free(&m->q); /* an idle acked connection keeps no buffer */
}

/* §4: the client handled everything up to 'h'. */
static void on_ack(struct worker *w, struct conn *c, const struct stanza *s)
{
	struct sm_state *m = c->sm;
	xmlChar *hs = xmlGetProp(s->root, (const xmlChar *)"h");
	char *end = NULL;
	unsigned long h = hs ? strtoul((const char *)hs, &end, 10) : 0;
	int ok = hs && end && end != (char *)hs && !*end && h <= UINT32_MAX;
	xmlFree(hs);
	uint32_t newly = (uint32_t)h - m->acked;
	if (!ok || newly > m->n) {
		/* §6: more than we sent (or no number at all). */
		char app[160];
		snprintf(app, sizeof app,
			 "<handled-count-too-high xmlns='" SM_NS "' h='%lu' send-count='%u'/>",
			 ok ? h : 0, m->sent);
		c2s_stream_error_app(w, c, SE_UNDEFINED_CONDITION, app);
		return;
	}
	pop(m, newly);
	m->acked = (uint32_t)h;
	m->r_out = 0;
}

int sm_nonza(struct worker *w, struct conn *c, const struct stanza *s)
{
	if (!s->ns || strcmp(s->ns, SM_NS) || !(c->flags & CONN_AUTHED))
		return 0;
	if (!strcmp(s->name, "enable"))
		enable(w, c);
	else if (!strcmp(s->name, "resume"))
		failed(w, c, "item-not-found"); /* §5: nothing to resume here */
	else if (!c->sm)
		return 0; /* r and a before enable: not a nonza we know */
	else if (!strcmp(s->name, "r")) {
		char a[80];
		snprintf(a, sizeof a, "<a xmlns='" SM_NS "' h='%u'/>", c->sm->h_in);
		conn_send_str(w, c, a);
	} else if (!strcmp(s->name, "a"))
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

/* What the core can still do something with: messages it can store or give
 * to another resource, and requests it must answer (RFC 6120 §8.2.3). */
static int returnable(const struct wire_stanza *s)
{
	if (s->kind == STANZA_MESSAGE)
		return s->type == STANZA_T_NONE || s->type == STANZA_T_NORMAL ||
		       s->type == STANZA_T_CHAT;
	return s->kind == STANZA_IQ && (s->type == STANZA_T_GET || s->type == STANZA_T_SET);
}

/* A stanza went to the client: s, or NULL for one that needs no return.
 * Asks for an ack when none is pending. */
static void sent(struct worker *w, struct conn *c, const struct wire_stanza *s)
{
	struct sm_state *m = c->sm;
	if (!m)
		return;
	struct wire_writer wr;
	int rc;
	if (s && returnable(s)) {
		rc = wire_put_stanza_return(&m->q, s);
	} else {
		wire_begin(&wr, &m->q, WIRE_STANZA_RETURN, 0);
		rc = wire_end(&wr);
	}
	if (rc) {
		log_warn("conn %u: cannot keep an unacknowledged stanza", c->sid);
		c2s_stream_error(w, c, SE_RESOURCE_CONSTRAINT);
		return;
	}
	m->sent++;
	if (++m->n > SM_MAX_UNACKED) {
		c2s_stream_error(w, c, SE_RESOURCE_CONSTRAINT);
		return;
	}
	if (!m->r_out) {
		/* One request per burst: the answer covers all sent before it. */
		conn_send_str(w, c, "<r xmlns='" SM_NS "'/>");
		m->r_out = 1;
	}
}

void sm_return_unacked(struct worker *w, struct conn *c)
{
	struct sm_state *m = c->sm;
	uint32_t returned = 0;
	while (m && m->n) {
		struct wire_frame f;
		size_t len = head_len(m, &f);
		if (f.plen && !buf_append(&w->link.out, buf_head(&m->q), len))
			returned++;
		buf_consume(&m->q, len);
		m->n--;
	}
	if (returned)
		log_info("conn %u: %u unacknowledged stanza(s) returned to the core", c->sid,
			 returned);
	sm_free(c);
}

int sm_send(struct worker *w, struct conn *c, const char *data, size_t len,
	    const struct wire_stanza *s)
{
	int rc = conn_send(w, c, data, len);
	if (!rc)
		sent(w, c, s);
	return rc;
}
