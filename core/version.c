/* version: XEP-0092 Software Version, answered for the server itself. */
#include "version.h"

#include "lib/version.h"
#include "router.h"

/* XEP-0092 §2: name and version are required; <os/> is optional and left
 * out on purpose (§5: it tells an attacker which exploits to try). */
static const char version_xml[] = "<query xmlns=\"" VERSION_NS "\">"
				  "<name>" STARLING_NAME "</name>"
				  "<version>" STARLING_VERSION "</version>"
				  "</query>";

int version_iq(const struct iq_req *r)
{
	if (r->target != IQ_TO_SERVER || !iq_is(r->payload, VERSION_NS, "query"))
		return 0; /* an account's version is its clients' business */
	if (r->s->type != STANZA_T_GET)
		router_error(r->c, r->s, ROUTER_ERR_BAD_REQUEST); /* §2 defines only get */
	else
		iq_result(r, version_xml, sizeof version_xml - 1);
	return 1;
}
