/* disco: what the server and its accounts say about themselves (XEP-0030).
 * The server lists its identity and exactly the features it implements; an
 * account is described by the server on its behalf, to itself and to those
 * allowed to see its presence only, so that disco cannot tell strangers which
 * accounts exist (the others get what a missing account gets). */
#include "disco.h"

#include <libxml/tree.h>
#include <string.h>

#include "blocking.h"
#include "carbons.h"
#include "entity_time.h"
#include "last.h"
#include "lib/version.h"
#include "pep.h"
#include "private.h"
#include "router.h"
#include "vcard.h"
#include "version.h"

#define IQ_NS_PING "urn:xmpp:ping"

/* Only what is implemented: XEP-0030 §3.2, a feature listed is one supported. */
static const char disco_server_info[] =
	"<query xmlns=\"" DISCO_INFO_NS "\">"
	"<identity category=\"server\" type=\"im\" name=\"" STARLING_NAME "\"/>"
	"<feature var=\"" DISCO_INFO_NS "\"/>"
	"<feature var=\"" DISCO_ITEMS_NS "\"/>"
	"<feature var=\"jabber:iq:roster\"/>"
	"<feature var=\"" IQ_NS_PING "\"/>"
	"<feature var=\"" CARBONS_NS "\"/>"
	"<feature var=\"" BLOCKING_NS "\"/>"
	"<feature var=\"" VERSION_NS "\"/>"
	"<feature var=\"" ENTITY_TIME_NS "\"/>"
	"<feature var=\"" LAST_NS "\"/>"
	"<feature var=\"" VCARD_NS "\"/>"
	"<feature var=\"" PRIVATE_NS "\"/>"
	"</query>";

/* §3.1 for an account (the server answers for a bare JID, RFC 6121
 * §8.5.2.1.3): what is served for it, not what its clients support. */
static const char disco_account_info[] =
	"<query xmlns=\"" DISCO_INFO_NS "\">"
	"<identity category=\"account\" type=\"registered\"/>"
	PEP_DISCO_INFO
	"<feature var=\"" DISCO_INFO_NS "\"/>"
	"<feature var=\"" DISCO_ITEMS_NS "\"/>"
	"<feature var=\"" LAST_NS "\"/>"
	"<feature var=\"" VCARD_NS "\"/>"
	"</query>";

/* The server has no components: an empty list (§4); an account lists its
 * PEP nodes (pep.c). */
static const char disco_no_items[] = "<query xmlns=\"" DISCO_ITEMS_NS "\"/>";

/* 1 when the requester may discover the addressed account. */
static int may_discover(const struct iq_req *r)
{
	char local[CORE_JID_MAX];
	if (r->target != IQ_TO_OTHER)
		return 1;
	return !iq_account(r, local, sizeof local) && iq_may_see(r->c, local, r->origin) > 0;
}

int disco_iq(const struct iq_req *r)
{
	int info = iq_is(r->payload, DISCO_INFO_NS, "query");
	if (!info && !iq_is(r->payload, DISCO_ITEMS_NS, "query"))
		return 0;
	xmlChar *node = xmlGetProp(r->payload, (const xmlChar *)"node");
	/* An IQ without 'to' is for the user's own account (RFC 6120 §10.3.3). */
	int server = r->target == IQ_TO_SERVER && r->s->to.len;
	if (r->s->type != STANZA_T_GET)
		router_error(r->c, r->s, ROUTER_ERR_BAD_REQUEST);
	else if (!server && !may_discover(r))
		router_error(r->c, r->s, ROUTER_ERR_SERVICE_UNAVAILABLE);
	else if (node) /* §3.2: no nodes are served */
		router_error(r->c, r->s, ROUTER_ERR_ITEM_NOT_FOUND);
	else if (!info && server)
		iq_result(r, disco_no_items, sizeof disco_no_items - 1);
	else if (!info)
		pep_disco_items(r);
	else if (server)
		iq_result(r, disco_server_info, sizeof disco_server_info - 1);
	else
		iq_result(r, disco_account_info, sizeof disco_account_info - 1);
	xmlFree(node);
	return 1;
}
