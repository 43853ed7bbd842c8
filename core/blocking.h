/* blocking: the Blocking Command (XEP-0191).  An account's blocklist lives
 * in the store; an online user's is cached on its core_user, so checking a
 * stanza against it costs no database read. */
#ifndef STARLING_CORE_BLOCKING_H
#define STARLING_CORE_BLOCKING_H
#include <libxml/tree.h>

#include "core.h"
#include "lib/wire.h"

#define BLOCKING_NS "urn:xmpp:blocking"
/* Entries per account; a block beyond it is refused (resource-constraint). */
#define BLOCKING_MAX 1000

/* An online user's cached blocklist: sorted (bytewise) bare, full or domain
 * JIDs as stored.  malloc'd by blocking.c, freed with the core_user. */
struct blocklist {
	size_t n;
	char **jid;
};

/* Handles <blocklist/>, <block/>, <unblock/> in the urn:xmpp:blocking
 * namespace from the user's own client; returns 1 when p was one of them
 * (answered), 0 otherwise. */
int blocking_iq(struct core *c, struct session *origin, const struct wire_stanza *s,
		xmlNodePtr p);

/* Whether the account (u when online, else the account whose bare JID is bare) blocks
 * the entity jid (full, bare or domain JID).  A store failure counts as not
 * blocked, and is logged.  An account never blocks itself (XEP-0191 §5, note:
 * one resource is never blocked from another). */
int blocking_blocks(struct core *c, struct core_user *u, struct wire_str bare,
		    struct wire_str jid);

/* Frees u's cache (session.c, when the user's last session ends). */
void blocking_free(struct core_user *u);

#endif
