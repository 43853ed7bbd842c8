/* linkack: what each end of a backend link promises about stanzas
 * (docs/link-protocol.md, "Acknowledgements").  Each end counts the stanza
 * frames it receives (STANZA, STANZA_MULTI, STANZA_RETURN, and
 * SESSION_UNPARKED, which holds stanzas too) and says the
 * count back in ACK frames; the sender keeps a
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
	uint64_t due_ms;   /* when rx != rx_told: the ACK goes alone at this time */
	struct buf kept;   /* copies of stanza frames sent and not yet acknowledged, oldest first */
};

/* Whether frames of this type are counted and kept. */
int linkack_counted(uint8_t type);
/* An ACK of its own costs the peer a wake-up, so it rides on frames going
 * out anyway, and goes alone only once LINKACK_EVERY frames wait or the
 * oldest uncounted one is LINKACK_DELAY_MS old.  Only what arrived in that
 * window can come twice after a lost link. */
#define LINKACK_EVERY 64
#define LINKACK_DELAY_MS 5
/* A frame arrived at now_ms (a monotonic clock): counted when it is a
 * stanza frame. */
static inline void linkack_received(struct linkack *a, uint8_t type, uint64_t now_ms)
{
	if (!linkack_counted(type))
		return;
	if (a->rx == a->rx_told)
		a->due_ms = now_ms + LINKACK_DELAY_MS;
	a->rx++;
}
/* Keeps a copy of the stanza frames among the whole frames in
 * frames[0..len).  0 or -ENOMEM. */
int linkack_keep(struct linkack *a, const void *frames, size_t len);
/* Appends an ACK to out when frames arrived since the last one and out
 * already holds frames, or LINKACK_EVERY wait, or it is due at now_ms
 * (UINT64_MAX: now, whatever the count).  0 or -ENOMEM. */
int linkack_put_ack(struct linkack *a, struct buf *out, uint64_t now_ms);
/* When an ACK must go alone (a monotonic ms time), or 0: none waiting.
 * The caller's loop wakes by then. */
static inline uint64_t linkack_due(const struct linkack *a)
{
	return a->rx != a->rx_told ? a->due_ms : 0;
}
/* The peer's ACK: drops the copies it covers.  0, or -EPROTO when it is
 * malformed or counts more than was sent. */
int linkack_on_ack(struct linkack *a, const struct wire_frame *f);
/* Stanza frames this end has queued on the link since HELLO (mod 2^32):
 * those the peer counted, those kept, and those still in out (not yet
 * handed to linkack_keep). */
uint32_t linkack_queued(const struct linkack *a, const struct buf *out);
/* Whether the peer has counted the first n stanza frames of the link. */
static inline int linkack_covers(const struct linkack *a, uint32_t n)
{
	return (int32_t)(a->tx_acked - n) >= 0;
}
/* A new link: counts start from zero and nothing is kept. */
void linkack_reset(struct linkack *a);
void linkack_free(struct linkack *a);

#endif
