/* carbons: Message Carbons (XEP-0280, urn:xmpp:carbons:2).  A resource that
 * enables carbons gets a copy of every eligible chat message its account
 * receives at another resource (wrapped in <received/>) or sends from one
 * (<sent/>), so that several clients of one user see the same conversation. */
#ifndef STARLING_CORE_CARBONS_H
#define STARLING_CORE_CARBONS_H
#include <libxml/tree.h>

#include "core.h"

#define CARBONS_NS "urn:xmpp:carbons:2"

/* <enable/> or <disable/> from a client (XEP-0280 §4, §5): sets the
 * session's flag and answers.  Returns 1 when payload was one of them. */
int carbons_iq(struct core *c, struct session *origin, const struct wire_stanza *s,
	       xmlNodePtr payload);
/* Whether a message is copied (§6): type chat, no <private/> (§7), no
 * <no-copy/> hint (XEP-0334). */
int carbons_eligible(const struct wire_stanza *s);
/* s was just delivered to u's sessions marked SESSION_GOT: copies go to u's
 * other resources that enabled carbons.  Clears the marks. */
void carbons_received(struct core *c, struct core_user *u, const struct wire_stanza *s);
/* origin sent s: copies go to its account's other resources with carbons. */
void carbons_sent(struct core *c, struct session *origin, const struct wire_stanza *s);

#endif
