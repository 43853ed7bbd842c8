/* last: Last Activity (XEP-0012): the server's uptime, and when an account
 * last logged out, recorded as its last session ends. */
#ifndef STARLING_CORE_LAST_H
#define STARLING_CORE_LAST_H
#include "iq.h"

#define LAST_NS "jabber:iq:last"

/* Answers a jabber:iq:last query (to the server, the own or another
 * account); 0 when r is not one. */
int last_iq(const struct iq_req *r);
/* s is ending: when it is its account's last session, stores the time and
 * the <status/> of the presence it sent last (XEP-0012 §3). */
void last_session_end(struct core *c, const struct session *s);

#endif
