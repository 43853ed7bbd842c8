/* trace: where a message's time goes inside Starling, hop by hop (issue 12).
 *
 * One client stanza in [c2s] trace_sample carries the times it passed each
 * point in TRACE frames just ahead of its STANZA frame: read by the cm,
 * written to the link, read by the core, written by the core to the link of
 * the recipient's cm, read there and handed to the recipient's TLS.  The
 * receiving cm turns them into five latency histograms, exported as
 * starling_cm_hop_seconds{hop=...}.  All times are CLOCK_MONOTONIC, so the
 * link hops mean something only when the cm and the core share a host; a
 * hop that comes out negative is not counted. */
#ifndef STARLING_CM_TRACE_H
#define STARLING_CM_TRACE_H
#include <stdint.h>

#include "lib/lathist.h"
#include "lib/wire.h"

enum trace_hop {
	HOP_CM_IN,	  /* the turn that read it -> its frame queued for the core */
	HOP_LINK_TO_CORE, /* -> the core read it (its wake-up included) */
	HOP_CORE,	  /* -> routed, its frame queued for the recipient's cm */
	HOP_LINK_TO_CM,	  /* -> the recipient's cm read it */
	HOP_CM_OUT,	  /* -> encrypted and queued for the recipient */
	HOP_COUNT
};
extern const char *const trace_hop_names[HOP_COUNT];

struct cm_trace {
	unsigned countdown;   /* client stanzas until the next sampled one */
	uint32_t rx_sid;      /* the session of the STANZA frame that follows a TRACE */
	uint8_t rx_armed;     /* a TRACE came and waits for that frame (sid 0 is a session too) */
	uint64_t rx[WIRE_TRACE_MAX + 1]; /* its times, and when this worker read it */
	struct lathist hop[HOP_COUNT];
};

struct worker;
/* A client's stanza is about to be framed for the core: when it is the
 * sampled one, a TRACE frame goes first.  t_in: when its turn began. */
void trace_outbound(struct worker *w, uint32_t sid, uint64_t t_in);
/* A TRACE frame from the core: its times wait for the next STANZA frame. */
void trace_inbound(struct worker *w, const struct wire_frame *f, uint64_t t_read);
/* The STANZA frame after it was handed to its client (sid), or dropped. */
void trace_delivered(struct worker *w, uint32_t sid);

#endif
