/* sm: Stream Management (XEP-0198).  A client that enables it counts what it
 * handled and tells us (acks, sm.c); one that asks for resumption keeps its
 * session for [c2s] resume_timeout after its connection is lost, and takes
 * it up again on a new connection on any worker (sm_resume.c).  What it never
 * acknowledged when the session finally ends goes back to the core, which
 * stores messages offline (or gives them to another resource) and bounces
 * requests (§4: nothing is silently lost). */
#ifndef STARLING_CM_SM_H
#define STARLING_CM_SM_H
#include "conn.h"
#include "lib/stanza.h"
#include "lib/wire.h"

#define SM_NS "urn:xmpp:sm:3"
/* Unacknowledged stanzas kept per connection; past it the stream is closed
 * (resource-constraint) and they go back to the core. */
#define SM_MAX_UNACKED 5000
/* ...and their bytes: a client that reads but never acknowledges must not
 * make us keep copies without bound. */
#define SM_MAX_QUEUE_BYTES (4u << 20)

/* An element in the SM namespace.  Returns 1 when handled (the stream may
 * have been closed by an error), 0 when s is not SM's. */
int sm_nonza(struct worker *w, struct conn *c, const struct stanza *s);
/* §3: <enable/> (node) from a bound client, answered <enabled/> or
 * <failed/>; also inside Bind 2's <bound/> (XEP-0386 §3.2). */
void sm_enable(struct worker *w, struct conn *c, xmlNodePtr node);
/* A stanza from the client was handled (§4: 'h' counts it). */
void sm_inbound(struct conn *c);
/* Queues a stanza for the client (conn_send) and counts it, as the client
 * will (§4): every stanza the client gets goes through here.  s is the
 * stanza the core sent, kept until acknowledged, or NULL for one the core
 * need not get back (the cm's own errors and results, held presence).
 * Asks for an ack when none is pending.  Returns conn_send's result. */
int sm_send(struct worker *w, struct conn *c, const char *data, size_t len,
	    const struct wire_stanza *s);
/* A stanza for a session that has ended here (or whose connection died
 * taking it) goes back to the core, which routes it with the session gone:
 * a message to another resource or offline storage, a request answered
 * with an error (RFC 6120 §8.2.3).  Other stanzas are dropped. */
void sm_give_back(struct worker *w, const struct wire_stanza *s);
/* The session ends: what is unacknowledged goes back to the core. */
void sm_return_unacked(struct worker *w, struct conn *c);
void sm_free(struct conn *c);

/* Answers to <r/> wait until the core has counted the stanzas they cover
 * (sm_reply.c).  The link's ACK came: answer those it covers. */
void sm_link_acked(struct worker *w);
/* A new link to a (maybe new) core, after what was kept was queued again:
 * the waiting answers wait for all of it. */
void sm_link_new(struct worker *w);
void sm_replies_free(struct worker *w);

struct handoff;
/* conn.c, releasing c's slot: when c's session may be resumed, detaches it
 * from its transport (the slot stays, CONN_DETACHED, stanzas queue) and
 * returns 1; 0 when the slot is to be freed. */
int sm_hibernate(struct worker *w, struct conn *c);
/* Whether c's session would wait for a resumption if c went now. */
int sm_may_hibernate(struct worker *w, struct conn *c);
/* c's session must end with its connection (a stream error of ours). */
void sm_no_resume(struct conn *c);
/* A detached session ends now (timeout, or the core closed it). */
void sm_expire(struct worker *w, struct conn *c);
/* Graceful stop: a session its client may resume goes to the core
 * (SESSION_PARK), which keeps it for a cm to take up; the connection is
 * cut without a stream error, as a lost one, so the client resumes.
 * Returns 1 when parked (the slot is then only to be released). */
int sm_park(struct worker *w, struct conn *c);
/* SESSION_UNPARKED: the core's answer to a resumption it was asked for.
 * Returns -1 for a malformed frame. */
int sm_on_unparked(struct worker *w, const struct wire_frame *f);
/* The link is lost: a resumption c asked of the core will not be answered
 * (the core ends that session with the link); <failed/>, and c may bind. */
void sm_unpark_lost(struct worker *w, struct conn *c);
/* A transport handed to this worker to resume one of its sessions. */
void sm_resume_arrive(struct worker *w, struct handoff *h);
/* The transport of a resumption that cannot be: <failed/>, and it goes on
 * as an authenticated stream that may bind (§5). */
void sm_resume_refuse(struct worker *w, struct handoff *h);

#endif
