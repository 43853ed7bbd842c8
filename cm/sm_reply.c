/* sm_reply: the answers to a client's <r/> (XEP-0198 §4).
 *
 * The 'h' in <a/> tells the client which stanzas it may forget.  Counting
 * a stanza as soon as the cm has read it would promise more than the cm can
 * keep: a cm killed before its link frame reached the core loses a stanza
 * the client no longer holds.  So an answer waits until the core has
 * counted (docs/link-protocol.md, "Acknowledgements") every stanza frame
 * queued on the link when the <r/> came; the core acknowledges at the end
 * of the turn that routed or stored them, at most LINKACK_DELAY_MS later.
 * §4 wants the answer "as soon as possible": this is as soon as it is true.
 * Answers wait in one FIFO per worker, in the order of the link. */
#include "sm_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "worker.h"

static void answer(struct worker *w, uint32_t sid, uint32_t h)
{
	struct conn *c = conn_by_sid(w, sid);
	if (!c || !c->sm || c->fd < 0 || (c->flags & CONN_DEAD))
		return; /* gone or detached: a resumption says 'h' itself (§5) */
	char a[80];
	snprintf(a, sizeof a, "<a xmlns='" SM_NS "' h='%u'/>", h);
	conn_send_str(w, c, a);
}

static int push(struct sm_replies *q, uint32_t sid, uint32_t need, uint32_t h)
{
	/* A client asking again before the answer: one answer, the later 'h'. */
	if (q->n > q->head && q->v[q->n - 1].sid == sid) {
		q->v[q->n - 1].need = need;
		q->v[q->n - 1].h = h;
		return 0;
	}
	if (q->n == q->cap && q->head) {
		/* Under steady load the FIFO may never empty: reuse what was
		 * answered before growing, or it would grow for ever. */
		memmove(q->v, q->v + q->head, (q->n - q->head) * sizeof *q->v);
		q->n -= q->head;
		q->head = 0;
	}
	if (q->n == q->cap) {
		uint32_t cap = q->cap ? 2 * q->cap : 16;
		struct sm_reply *v = realloc(q->v, cap * sizeof *v);
		if (!v)
			return -1;
		q->v = v;
		q->cap = cap;
	}
	q->v[q->n++] = (struct sm_reply){.sid = sid, .need = need, .h = h};
	return 0;
}

void sm_reply_request(struct worker *w, struct conn *c)
{
	struct uplink *l = &w->link;
	uint32_t need = linkack_queued(&l->ack, &l->out);
	int queued = !(l->up && !l->down && linkack_covers(&l->ack, need));
	if (queued && push(&w->sm_replies, c->sid, need, c->sm->h_in)) {
		log_warn("worker %u: out of memory: <r/> answered before the core has it", w->id);
		queued = 0;
	}
	if (!queued)
		answer(w, c->sid, c->sm->h_in);
}

void sm_link_acked(struct worker *w)
{
	struct sm_replies *q = &w->sm_replies;
	while (q->head < q->n && linkack_covers(&w->link.ack, q->v[q->head].need)) {
		answer(w, q->v[q->head].sid, q->v[q->head].h);
		q->head++;
	}
	if (q->head == q->n)
		q->head = q->n = 0;
}

void sm_link_new(struct worker *w)
{
	struct sm_replies *q = &w->sm_replies;
	uint32_t need = linkack_queued(&w->link.ack, &w->link.out);
	for (uint32_t i = q->head; i < q->n; i++)
		q->v[i].need = need;
}

void sm_replies_free(struct worker *w)
{
	free(w->sm_replies.v);
	w->sm_replies = (struct sm_replies){0};
}
