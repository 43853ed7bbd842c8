/* iq: IQs the server answers itself: roster, ping, service discovery. */
#ifndef STARLING_CORE_IQ_H
#define STARLING_CORE_IQ_H
#include "core.h"
#include "lib/wire.h"

enum iq_target {
	IQ_TO_SERVER,  /* no 'to' or the domain: roster, ping, disco#info */
	IQ_TO_ACCOUNT, /* the user's own bare JID: roster only */
	IQ_TO_OTHER,   /* another account's bare JID: answered for it, origin unused */
};

void iq_handle(struct core *c, struct session *origin, const struct wire_stanza *s,
	       enum iq_target target);

#endif
