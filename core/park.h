/* park: XEP-0198 sessions the core keeps while no cm holds them (issue 13).
 * A cm that stops gracefully hands over each session whose client may resume
 * it (SESSION_PARK) instead of ending it: the session stays registered and
 * available to its contacts, on the core's own parking link (no socket), and
 * what is routed to it queues here.  A cm whose client presents the SM-ID
 * asks for it (SESSION_UNPARK): the session moves to that cm's link under
 * the asking connection's sid, its queue with it.  One not taken up in time
 * ends as a cm would end it: unavailable presence, and what its client never
 * acknowledged routed again (stored offline, another resource, or bounced). */
#ifndef STARLING_CORE_PARK_H
#define STARLING_CORE_PARK_H
#include <stdint.h>

struct core;
struct link;
struct session;
struct wire_frame;
struct wire_stanza;

/* Longest a cm may ask a session to wait (its resume_timeout is less). */
#define PARK_MAX_SECS 86400
/* Queued stanzas per parked session; past it (or WIRE_PARK_MAX_Q bytes) the
 * session ends at the next turn instead of queueing without bound. */
#define PARK_MAX_STANZAS 5000

void park_on_park(struct core *c, struct link *l, const struct wire_frame *f);
void park_on_unpark(struct core *c, struct link *l, const struct wire_frame *f);
/* router.c: s is parked (s->link->parking); st waits for its client. */
int park_queue(struct core *c, struct session *s, const struct wire_stanza *st);
/* session_free of a parked session: its queue is routed at the next park_tick. */
void park_session_gone(struct core *c, struct session *s);
/* link.c: a link lost before its cm counted this SESSION_UNPARKED (kept
 * like a stanza frame): the session ended with the link, and its queue is
 * routed at the next park_tick. */
void park_unparked_lost(struct core *c, const struct wire_frame *f);
/* Each loop turn: ends the sessions whose time is up and routes the queues
 * of those that ended. */
void park_tick(struct core *c);
/* Milliseconds until the next session's time is up, or -1. */
int park_wait_ms(const struct core *c);
/* Shutdown: every parked session ends (no broadcast: all go), queues routed. */
void park_free(struct core *c);

#endif
