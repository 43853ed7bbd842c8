/* linkack: what each end of a backend link promises about stanzas
 * (docs/link-protocol.md, "Acknowledgements").  Each end counts the stanza
 * frames it receives (STANZA, STANZA_MULTI, STANZA_RETURN) and says the
 * count back in ACK frames, at most one per loop turn; the sender keeps a
 * copy of every stanza frame until a count covers it.  When a link is lost,
 * what it kept is what may not have arrived: the cm sends it again on its
 * next link, the core routes it as returned (another resource, offline
 * storage, or an error for a request).  Nothing is silently dropped; a
 * stanza that arrived just before the loss may come twice. */
#ifndef STARLING_LINKACK_H
#define STARLING_LINKACK_H
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "wire.h"

struct linkack {
	uint32_t rx;	   /* stanza frames received since HELLO (mod 2^32) */
	uint32_t rx_told;  /* the count in our last ACK */
	uint32_t tx_acked; /* the peer's last count */
	uint32_t kept_n;   /* frames in kept */
	struct buf kept;   /* copies of stanza frames sent and not yet acknowledged, oldest first */
};

/* Whether frames of this type are counted and kept. */
int linkack_counted(uint8_t type);
/* A frame arrived: counted when it is a stanza frame. */
static inline void linkack_received(struct linkack *a, uint8_t type)
{
	if (linkack_counted(type))
		a->rx++;
}
/* Keeps a copy of the stanza frames among the whole frames in
 * frames[0..len).  0 or -ENOMEM. */
int linkack_keep(struct linkack *a, const void *frames, size_t len);
/* Appends an ACK to out when frames arrived since the last one.  0 or -ENOMEM. */
int linkack_put_ack(struct linkack *a, struct buf *out);
/* The peer's ACK: drops the copies it covers.  0, or -EPROTO when it is
 * malformed or counts more than was sent. */
int linkack_on_ack(struct linkack *a, const struct wire_frame *f);
/* A new link: counts start from zero and nothing is kept. */
void linkack_reset(struct linkack *a);
void linkack_free(struct linkack *a);

#endif
