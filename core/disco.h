/* disco: Service Discovery (XEP-0030) of the server and of its accounts. */
#ifndef STARLING_CORE_DISCO_H
#define STARLING_CORE_DISCO_H
#include "iq.h"

#define DISCO_INFO_NS "http://jabber.org/protocol/disco#info"
#define DISCO_ITEMS_NS "http://jabber.org/protocol/disco#items"

/* Answers disco#info and disco#items queries; 1 when r was one. */
int disco_iq(const struct iq_req *r);

#endif
