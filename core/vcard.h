/* vcard: vcard-temp (XEP-0054), one vCard per account kept in the store. */
#ifndef STARLING_CORE_VCARD_H
#define STARLING_CORE_VCARD_H
#include "iq.h"

#define VCARD_NS "vcard-temp"
/* Bytes of one stored vCard (photos are inline: keep room for a small one). */
#define VCARD_MAX 65536

/* Answers a vcard-temp get or set to the own or another account; 0 when r
 * is not one (or is addressed to the domain, which has no vCard). */
int vcard_iq(const struct iq_req *r);

#endif
