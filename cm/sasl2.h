/* sasl2: the Extensible SASL Profile (XEP-0388) with Bind 2 inline
 * (XEP-0386): the same mechanisms as auth.c's RFC 6120 SASL, in other
 * elements, with no stream restart after <success/> and the resource bound
 * inside the exchange, so a login takes two round trips fewer.  This file
 * reads and writes the profile's elements; auth.c runs the mechanisms. */
#ifndef STARLING_CM_SASL2_H
#define STARLING_CM_SASL2_H
#include <stddef.h>

#include "lib/stanza.h"

#define NS_SASL2 "urn:xmpp:sasl:2"
#define NS_BIND2 "urn:xmpp:bind:0"
#define NS_CARBONS "urn:xmpp:carbons:2"

struct worker;
struct conn;

/* What an <authenticate/> asks for.  Owned by the caller: sasl2_request_free. */
struct sasl2_request {
	char *mech;	/* the 'mechanism' attribute */
	char *initial;	/* decoded <initial-response/>, NUL-terminated; NULL: none */
	size_t initial_len;
	int bind;	/* a Bind 2 <bind/> was included (XEP-0386 §3.2) */
	char *tag;	/* its <tag/> text, or NULL */
	/* Features to start the session with (XEP-0386 §3.2), inside <bind/>:
	 * XEP-0198's <enable/> (a copy, freed with r) and XEP-0352's state. */
	xmlNodePtr sm_enable;
	int inactive;
	int carbons; /* XEP-0280 <enable/> */
};

/* XEP-0388 §2.3: reads s (<authenticate/> in NS_SASL2).  0; -ENOENT
 * without a mechanism; -EINVAL when the payload is not base64; -EMSGSIZE
 * over max bytes of it; -ENOMEM.  On error r holds nothing. */
int sasl2_parse_authenticate(const struct stanza *s, size_t max, struct sasl2_request *r);
void sasl2_request_free(struct sasl2_request *r);

/* The base64 payload of a SASL element (<auth/>, <response/>,
 * <initial-response/>), decoded into *out (malloc'd, NUL-terminated).  RFC
 * 6120 §6.4.2 (sasl2 = 0): no text is no data (*out = NULL) and "=" the
 * empty string; XEP-0388 §2.2: no text is the empty string.  Same returns
 * as above. */
int sasl_decode(xmlNodePtr n, size_t max, int sasl2, char **out, size_t *len);

/* The <authentication/> feature (§2.1) offering names[0..n), with Bind 2
 * inline (XEP-0386 §3.1) and what Bind 2 can start: stream management,
 * client state and carbons.  Nothing when n is 0 (§2.1: never without one). */
void sasl2_features(struct worker *w, struct conn *c, const char *const *names, size_t n);

/* XEP-0386 §3.2.1: the resource of a Bind 2 session, "<tag>/<random>" (the tag
 * only when it is a valid resourcepart short enough to leave room), else
 * the random part alone.  out holds JID_PART_MAX + 1 bytes. */
void sasl2_resource(const char *tag, char *out, size_t cap);

/* §2.6.1: <success/> with the mechanism's final data (or NULL) and the
 * authorization identifier (full JID once bound); the caller adds Bind 2's
 * <bound/> and closes it with "</success>".  0, or -ENOMEM with the
 * connection closed. */
int sasl2_success_head(struct worker *w, struct conn *c, const char *final, size_t final_len,
			const char *authzid);

/* §2.6.2: <failure/> carries an RFC 6120 §6.5 condition in the SASL namespace. */
void sasl2_failure(struct worker *w, struct conn *c, const char *cond, const char *text);

#endif
