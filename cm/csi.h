/* csi: Client State Indication (XEP-0352).  A client that says it is
 * inactive (a phone with its screen off) gets presence updates held back and
 * collapsed to the latest per sender; everything else is delivered at once,
 * after what was held, so the order the client sees is the core's order minus
 * the superseded updates. */
#ifndef STARLING_CM_CSI_H
#define STARLING_CM_CSI_H
#include "conn.h"
#include "lib/stanza.h"
#include "lib/wire.h"

#define CSI_NS "urn:xmpp:csi:0"
/* Senders held per connection; one more flushes everything (bounded memory). */
#define CSI_HOLD_MAX 256

/* <active/> or <inactive/> from a bound client: 1 when s was one (handled). */
int csi_nonza(struct worker *w, struct conn *c, const struct stanza *s);
/* Called for every stanza the core sends to c.  Returns 1 when it was held;
 * 0 when the caller should deliver it now (what was held has been queued
 * before it). */
int csi_filter(struct worker *w, struct conn *c, const struct wire_stanza *s);
/* What was held goes out now (or into the XEP-0198 queue of a detached
 * session), oldest sender first. */
void csi_flush(struct worker *w, struct conn *c);
/* Frees what c holds (conn.c, when the slot is released). */
void csi_free(struct conn *c);

#endif
