/* iq: IQs the server answers itself (roster, ping, service discovery,
 * software version, entity time, last activity, vcard-temp, private XML
 * storage), and the helpers their handlers share. */
#ifndef STARLING_CORE_IQ_H
#define STARLING_CORE_IQ_H
#include <libxml/tree.h>

#include "core.h"
#include "lib/wire.h"

enum iq_target {
	IQ_TO_SERVER,  /* no 'to' or the domain */
	IQ_TO_ACCOUNT, /* the user's own bare JID */
	IQ_TO_OTHER,   /* another account's bare JID: answered for it, origin NULL */
};

/* Every get or set gets exactly one result or error (RFC 6120 §8.2.3). */
void iq_handle(struct core *c, struct session *origin, const struct wire_stanza *s,
	       enum iq_target target);

/* A request as the handlers see it: origin is the requesting session (found
 * from the header's from when the router answers for another account). */
struct iq_req {
	struct core *c;
	struct session *origin;
	const struct wire_stanza *s;
	xmlNodePtr payload; /* the one child of <iq/> */
	enum iq_target target;
};

/* The first child element of n named name (any name when NULL), or NULL;
 * *count gets how many there are. */
xmlNodePtr iq_child(xmlNodePtr n, const char *name, int *count);
/* 1 when p is the element {ns}name. */
int iq_is(xmlNodePtr p, const char *ns, const char *name);
/* The request addresses the requester's own account: no 'to' (RFC 6120
 * §10.3.3) or its bare JID. */
int iq_to_self(const struct iq_req *r);
/* The bare JID (the store key) of the account addressed, NUL-terminated into out: the
 * requester's own, or the one of 'to' for IQ_TO_OTHER.  0, or -ENOENT for the
 * domain itself, -ENAMETOOLONG. */
int iq_account(const struct iq_req *r, char *out, size_t cap);
/* Serialises n (with the namespaces it uses declared on it) into a malloc'd
 * string.  0, -EMSGSIZE when longer than max bytes, -ENOMEM. */
int iq_dump(xmlNodePtr n, size_t max, char **out);
/* Whether requester may see what the account shares with its contacts: the
 * account's roster says it is subscribed from it (RFC 6121 §4.3.2, as for a
 * probe).  1 yes, 0 no, <0 the store failed. */
int iq_may_see(struct core *c, const char *account, const struct session *requester);
/* Answers r with a result carrying inner (may be NULL). */
void iq_result(const struct iq_req *r, const char *inner, size_t len);

#endif
