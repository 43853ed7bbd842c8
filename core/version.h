/* version: Software Version (XEP-0092) of the server. */
#ifndef STARLING_CORE_VERSION_H
#define STARLING_CORE_VERSION_H
#include "iq.h"

#define VERSION_NS "jabber:iq:version"

/* Answers a jabber:iq:version query to the server; 0 when r is not one. */
int version_iq(const struct iq_req *r);

#endif
