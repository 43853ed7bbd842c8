/* vcard: XEP-0054 vcard-temp.  The account's <vCard/> is stored whole, as
 * the client sent it (§3.2: no partial updates), under the key "vcard-temp". */
#include "vcard.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "router.h"

#define VCARD_KEY "vcard-temp"

static const char vcard_empty[] = "<vCard xmlns=\"" VCARD_NS "\"/>";

static void vcard_get(const struct iq_req *r, const char *local)
{
	char *xml = NULL;
	int rc = store_xml_get(r->c->store, local, VCARD_KEY, &xml);
	if (!rc)
		iq_result(r, xml, strlen(xml));
	else if (rc == -ENOENT && r->target != IQ_TO_OTHER)
		iq_result(r, vcard_empty, sizeof vcard_empty - 1); /* §3.1: empty element */
	else
		/* §3.3: none for another account is answered as a missing account,
		 * against directory harvesting. */
		router_error(r->c, r->s, rc == -ENOENT ? ROUTER_ERR_SERVICE_UNAVAILABLE
						       : ROUTER_ERR_INTERNAL);
	free(xml);
}

static void vcard_set(const struct iq_req *r, const char *local)
{
	char *xml = NULL;
	/* An empty <vCard/> removes the stored one: a get then shows it empty. */
	int rc = r->payload->children ? iq_dump(r->payload, VCARD_MAX, &xml) : 0;
	if (!rc)
		rc = store_xml_put(r->c->store, local, VCARD_KEY, xml);
	if (!rc)
		iq_result(r, NULL, 0);
	else
		/* Too big: RFC 6120 §8.3.3.13, a criterion of the server the client
		 * can meet by sending less (a smaller photo). */
		router_error(r->c, r->s, rc == -EMSGSIZE ? ROUTER_ERR_NOT_ACCEPTABLE
							 : ROUTER_ERR_INTERNAL);
	free(xml);
}

int vcard_iq(const struct iq_req *r)
{
	char local[CORE_JID_MAX];
	if (!iq_is(r->payload, VCARD_NS, "vCard") || iq_account(r, local, sizeof local))
		return 0;
	if (r->s->type == STANZA_T_GET)
		vcard_get(r, local); /* §3.3: world-readable */
	else if (r->target == IQ_TO_OTHER)
		router_error(r->c, r->s, ROUTER_ERR_FORBIDDEN); /* §3.2: not one's own */
	else
		vcard_set(r, local);
	return 1;
}
