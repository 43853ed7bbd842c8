/* presence: availability broadcast and delivery (RFC 6121 §4). */
#ifndef STARLING_CORE_PRESENCE_H
#define STARLING_CORE_PRESENCE_H
#include "core.h"
#include "lib/wire.h"

/* Presence without a 'to' from the client of s: initial, update or
 * unavailable (RFC 6121 §4.2, §4.4, §4.5). */
void presence_from_client(struct core *c, struct session *s, const struct wire_stanza *st);
/* Presence from origin addressed to a local user (directed, probe or
 * subscription, RFC 6121 §3, §4.3, §4.6). */
void presence_to_local(struct core *c, struct session *origin, const struct wire_stanza *st,
		       const struct jid_view *to);
/* The session is going away: broadcast unavailable if it was available
 * (RFC 6121 §4.5.2, also on a lost connection). */
void presence_session_end(struct core *c, struct session *s);

/* Delivers st to every available resource of u (optionally skipping one). */
void presence_to_available(struct core *c, struct core_user *u, const struct wire_stanza *st,
			   const struct session *skip);
/* Sends the current presence of every available resource of from (or an
 * unavailable presence when unavail) to every available resource of to. */
void presence_send_current(struct core *c, struct core_user *from, struct core_user *to,
			   int unavail);

/* XEP-0191 §3.3-3.4: u blocked (or unblocked) jid: a local contact allowed
 * to see u's presence (RFC 6121 §4.5.2) gets unavailable presence from u's
 * available resources (or their current presence). */
void presence_block_changed(struct core *c, struct core_user *u, const char *jid, int blocked);

#endif
