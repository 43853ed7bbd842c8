/* sm_park: XEP-0198 sessions across a cm restart (docs/link-protocol.md,
 * "Parking").  A cm that stops gracefully hands each session its client may
 * resume to the core instead of ending it (SESSION_PARK); a cm asked to
 * resume an SM-ID it does not hold asks the core (SESSION_UNPARK) and takes
 * the session up from the answer (SESSION_UNPARKED): the state the core
 * kept is the XEP-0198 state of sm_int.h, and the session carries on under
 * the asking connection's sid. */
#include "sm_int.h"

#include <stdlib.h>
#include <string.h>

#include "c2s.h"
#include "connlog.h"
#include "csi.h"
#include "lib/log.h"
#include "smid.h"
#include "worker.h"

/* Not a session of this cm: perhaps one the core keeps for a cm that
 * stopped (SESSION_PARK).  c, authenticated and unbound, waits for the
 * answer (sm_on_unparked) without an SM state of its own. */
void sm_ask_core(struct worker *w, struct conn *c, const struct handoff *h)
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
		if (!(c->flags & CONN_DEAD))
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
		m->sent = m->acked = m->ask_h;
	} else {
		sm_ack_to(m, m->ask_h); /* checked above: not more than was sent */
	}
	conn_timer_clear(w, c);
	conn_log(LOG_LEVEL_INFO, c, "%s resumed from the core on worker %u, %u stanza(s) sent again",
		 c->jid, w->id, m->n);
	sm_resumed(w, c);
	return 0;
}

void sm_unpark_lost(struct worker *w, struct conn *c)
{
	if (!c->sm || !c->sm->unparking)
		return;
	sm_free(c);
	sm_failed(w, c, "item-not-found");
}
