/* subscribe: presence subscriptions between local accounts (RFC 6121 §3).
 * Both sides' roster state is committed before anything is pushed or
 * delivered. */
#ifndef STARLING_CORE_SUBSCRIBE_H
#define STARLING_CORE_SUBSCRIBE_H
#include "core.h"
#include "lib/wire.h"

/* A presence stanza of type subscribe, subscribed, unsubscribe or
 * unsubscribed from the user `local` (its bare JID) to the bare JID contact.  xml is the
 * original stanza (forwarded as is) or NULL to synthesise one.  With
 * quiet_user the user's own roster pushes are left to the caller (roster
 * removal pushes the removal instead). */
void subscribe_handle(struct core *c, const char *local, const char *contact, uint8_t type,
		      struct wire_str xml, int quiet_user);

#endif
