/* roster: jabber:iq:roster get/set and roster pushes (RFC 6121 §2). */
#ifndef STARLING_CORE_ROSTER_H
#define STARLING_CORE_ROSTER_H
#include <libxml/tree.h>

#include "core.h"
#include "lib/buf.h"
#include "lib/wire.h"

void roster_iq(struct core *c, struct session *origin, const struct wire_stanza *s,
	       xmlNodePtr query);
/* Pushes the item (or its removal) to every interested resource of local (the
 * account's bare JID, its store key; the name predates virtual hosts)
 * (RFC 6121 §2.1.6).  Hidden items are not pushed. */
void roster_push(struct core *c, const char *local, const struct store_item *it, int removed);
/* Appends <item .../>; removed writes subscription='remove'. */
int roster_item_xml(struct buf *b, const struct store_item *it, int removed);

#endif
