/* sm_int: the per-connection XEP-0198 state, shared by the acks (sm.c) and
 * resumption (sm_resume.c) only. */
#ifndef STARLING_CM_SM_INT_H
#define STARLING_CM_SM_INT_H
#include <libxml/tree.h>
#include <stdint.h>

#include "handoff.h"
#include "sm.h"

/* Allocated by <enable/>: a connection without SM owns nothing here. */
struct sm_state {
	uint32_t h_in;	/* stanzas from the client handled (§4), mod 2^32 */
	uint32_t sent;	/* stanzas sent since <enabled/>, mod 2^32 */
	uint32_t acked; /* the client's last 'h' */
	uint32_t n;	/* entries in q: sent - acked */
	uint8_t r_out;	/* our <r/> is unanswered */
	/* <enabled resume='true'/> was sent: a lost connection leaves the
	 * session waiting (sm_hibernate) instead of ending it. */
	uint8_t resumable;
	/* One STANZA_RETURN frame per unacknowledged stanza, oldest first.
	 * Without resumption a frame without payload stands for a stanza not
	 * worth returning; with it every frame holds the stanza as sent (what
	 * the cm wrote itself as kind STANZA_OTHER), for retransmission. */
	struct buf q;
	char token[HANDOFF_TOKEN_HEX + 1]; /* the secret part of the SM-ID */
	/* A resumption that waits for this connection's old transport to go. */
	struct handoff *pending;
	/* Waiting for the core's answer to SESSION_UNPARK (sm_resume.c): the
	 * client's 'h' and where its SM-ID said the session was.  Once taken
	 * up (from_core), the SM-ID stays that one: its client keeps it. */
	uint8_t unparking, from_core;
	uint8_t moved; /* the SM-ID leads here through smid.c */
	uint32_t ask_h, ask_sid;
	unsigned ask_worker;
};

/* <r/>: answered with the 'h' of now once the core has counted every
 * stanza frame queued on the link so far (sm_reply.c). */
void sm_reply_request(struct worker *w, struct conn *c);
/* The length of the oldest queued frame, which is parsed into f. */
size_t sm_head_len(struct sm_state *m, struct wire_frame *f);
/* Drops the k oldest entries. */
void sm_pop(struct sm_state *m, uint32_t k);
/* <failed/> with a stanza error condition (§5, §6). */
void sm_failed(struct worker *w, struct conn *c, const char *cond);
/* An 'h' attribute: 0 and *h set, or -1 when absent or not a uint32. */
int sm_get_h(xmlNodePtr node, uint32_t *h);
/* Accepts the client's 'h': 0, or -1 when it acknowledges more than sent. */
int sm_ack_to(struct sm_state *m, uint32_t h);
/* §5: offers resumption on <enable resume='true'/>; 1 when done (the
 * caller sends the plain <enabled/> otherwise). */
int sm_resume_enable(struct worker *w, struct conn *c, xmlNodePtr enable);
void sm_resume_request(struct worker *w, struct conn *c, xmlNodePtr resume);

/* The SM-ID: "<worker>.<sid>.<token>", where the session lives and a secret
 * (§5 lets the server encode what it likes; the client treats it as opaque). */
#define SM_PREVID_MAX (10 + 1 + 10 + 1 + HANDOFF_TOKEN_HEX + 1)
/* c's SM-ID, as its client knows it, into out[SM_PREVID_MAX]. */
void sm_previd(struct worker *w, struct conn *c, char *out);
/* c has its session back on a transport: <resumed/> and everything still
 * unacknowledged again, in order (§5). */
void sm_resumed(struct worker *w, struct conn *c);
/* sm_park.c: c (authenticated, not bound) asks the core for the session of
 * h's SM-ID, which this cm does not hold; the answer comes to sm_on_unparked. */
void sm_ask_core(struct worker *w, struct conn *c, const struct handoff *h);

#endif
