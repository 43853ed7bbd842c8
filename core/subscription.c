#include "subscription.h"

#include "store.h"

static unsigned sub_outbound(enum stanza_type type, struct sub_state *st)
{
	struct sub_state old = *st;
	switch (type) {
	case STANZA_T_SUBSCRIBE:
		/* A.2.1: None -> None+PendingOut; the request is routed in every
		 * state so the contact's server can answer it (§3.1.2). */
		if (!(st->sub & STORE_SUB_TO))
			st->ask = 1;
		break;
	case STANZA_T_UNSUBSCRIBE:
		/* A.2.2: drops "to" and any pending out; always routed (§3.3.2). */
		st->sub &= (uint8_t)~STORE_SUB_TO;
		st->ask = 0;
		break;
	case STANZA_T_SUBSCRIBED:
		/* A.2.3: approves a pending request.  §3.4.1: with none pending and
		 * no "from" yet, it pre-approves the contact's future request; it
		 * is recorded, not routed. */
		if (st->sub & STORE_SUB_FROM)
			return 0;
		if (!st->pending_in) {
			if (st->approved)
				return 0;
			st->approved = 1;
			return SUB_CHANGED;
		}
		st->pending_in = 0;
		st->approved = 0;
		st->sub |= STORE_SUB_FROM;
		return SUB_CHANGED | SUB_FORWARD;
	case STANZA_T_UNSUBSCRIBED:
		/* A.2.4: cancels "from" or denies a pending request; alone, it
		 * withdraws a pre-approval (§3.4), which concerns only us. */
		if (!(st->sub & STORE_SUB_FROM) && !st->pending_in) {
			if (!st->approved)
				return 0;
			st->approved = 0;
			return SUB_CHANGED;
		}
		st->sub &= (uint8_t)~STORE_SUB_FROM;
		st->pending_in = 0;
		st->approved = 0;
		return SUB_CHANGED | SUB_FORWARD;
	default:
		return 0;
	}
	int changed = old.sub != st->sub || old.ask != st->ask;
	return SUB_FORWARD | (changed ? SUB_CHANGED : 0);
}

static unsigned sub_inbound(enum stanza_type type, struct sub_state *st)
{
	switch (type) {
	case STANZA_T_SUBSCRIBE:
		/* A.3.1 / §3.1.3: already approved => answer for the contact. */
		if (st->sub & STORE_SUB_FROM)
			return SUB_AUTO_REPLY;
		/* §3.4.2: pre-approved => granted now, the user is not asked. */
		if (st->approved) {
			st->approved = 0;
			st->pending_in = 0;
			st->sub |= STORE_SUB_FROM;
			return SUB_CHANGED | SUB_AUTO_REPLY;
		}
		if (st->pending_in)
			return SUB_FORWARD; /* a repeat: deliver again, no new state */
		st->pending_in = 1;
		return SUB_CHANGED | SUB_FORWARD;
	case STANZA_T_UNSUBSCRIBE:
		/* A.3.2 */
		if (!(st->sub & STORE_SUB_FROM) && !st->pending_in)
			return 0;
		st->sub &= (uint8_t)~STORE_SUB_FROM;
		st->pending_in = 0;
		return SUB_CHANGED | SUB_FORWARD;
	case STANZA_T_SUBSCRIBED:
		/* A.3.3: only meaningful while our request is pending (§3.1.6). */
		if (!st->ask || (st->sub & STORE_SUB_TO))
			return 0;
		st->ask = 0;
		st->sub |= STORE_SUB_TO;
		return SUB_CHANGED | SUB_FORWARD;
	case STANZA_T_UNSUBSCRIBED:
		/* A.3.4 */
		if (!(st->sub & STORE_SUB_TO) && !st->ask)
			return 0;
		st->sub &= (uint8_t)~STORE_SUB_TO;
		st->ask = 0;
		return SUB_CHANGED | SUB_FORWARD;
	default:
		return 0;
	}
}

unsigned sub_apply(enum sub_dir dir, enum stanza_type type, struct sub_state *st)
{
	return dir == SUB_OUTBOUND ? sub_outbound(type, st) : sub_inbound(type, st);
}

const char *sub_name(uint8_t sub)
{
	static const char *const names[] = {"none", "to", "from", "both"};
	return names[sub & STORE_SUB_BOTH];
}
