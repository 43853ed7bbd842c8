/* private: Private XML Storage (XEP-0049), documents an account keeps on
 * the server under a namespace and element name. */
#ifndef STARLING_CORE_PRIVATE_H
#define STARLING_CORE_PRIVATE_H
#include "iq.h"

#define PRIVATE_NS "jabber:iq:private"
/* Bytes of one document, and documents per account. */
#define PRIVATE_MAX 65536
#define PRIVATE_DOCS_MAX 100

/* Answers a jabber:iq:private get or set; 0 when r is not one. */
int private_iq(const struct iq_req *r);

#endif
