/* relink: a worker that loses its link to the core keeps its clients.
 * Their reading pauses (as for backpressure), a login waiting for
 * credentials is told to try again, and the worker reconnects with backoff;
 * once connected it announces every session it holds (SESSION_OPEN and the
 * last available presence, c2s_announce) before anything else, so a core
 * that restarted learns them again and the clients chat on
 * (docs/link-protocol.md, "Link loss"). */
#ifndef STARLING_CM_RELINK_H
#define STARLING_CM_RELINK_H

struct worker;

/* The link failed; why is for the log. */
void uplink_lost(struct worker *w, const char *why);
/* From the tick: reconnect when it is time and nothing names the old socket. */
void uplink_retry(struct worker *w);

#endif
