/* subscription: the presence subscription state machine of RFC 6121
 * Appendix A as a pure function, so the transitions can be unit tested
 * without a database or a network. */
#ifndef STARLING_CORE_SUBSCRIPTION_H
#define STARLING_CORE_SUBSCRIPTION_H
#include <stdint.h>

#include "lib/stanza.h"

/* One side's view of the relationship with one contact. */
struct sub_state {
	uint8_t sub;	    /* enum store_sub: bit 1 = to, bit 2 = from */
	uint8_t ask;	    /* pending out */
	uint8_t pending_in; /* pending in */
	uint8_t approved;   /* pre-approved (RFC 6121 §3.4) */
};

enum sub_dir {
	SUB_OUTBOUND, /* the user sent the stanza (Appendix A.2) */
	SUB_INBOUND,  /* the stanza arrives for the user (Appendix A.3) */
};

/* What the caller must do after sub_apply(). */
enum sub_action {
	SUB_CHANGED = 1, /* persist the state, then roster push */
	SUB_FORWARD = 2, /* outbound: route to the contact; inbound: deliver to the user */
	SUB_AUTO_REPLY = 4, /* inbound subscribe while already subscribed: answer
			     * "subscribed" on the user's behalf (RFC 6121 §3.1.3) */
};

/* Applies a subscription stanza (type subscribe, subscribed, unsubscribe,
 * unsubscribed) to *st and returns a mask of enum sub_action.  Any other
 * type returns 0 and leaves *st alone. */
unsigned sub_apply(enum sub_dir dir, enum stanza_type type, struct sub_state *st);

/* "none", "to", "from", "both" (RFC 6121 §2.1.2.5). */
const char *sub_name(uint8_t sub);

#endif
