/* entity_time: Entity Time (XEP-0202) of the server. */
#ifndef STARLING_CORE_ENTITY_TIME_H
#define STARLING_CORE_ENTITY_TIME_H
#include "iq.h"

#define ENTITY_TIME_NS "urn:xmpp:time"

/* Answers a urn:xmpp:time request to the server; 0 when r is not one. */
int entity_time_iq(const struct iq_req *r);

#endif
