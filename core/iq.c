/* iq: requests the server answers itself (RFC 6120 §8.2.3, §10.3.3). */
#include "iq.h"

#include <libxml/parser.h>
#include <string.h>

#include "blocking.h"
#include "carbons.h"
#include "lib/log.h"
#include "roster.h"
#include "router.h"

#define IQ_NS_PING "urn:xmpp:ping"
#define IQ_NS_DISCO_INFO "http://jabber.org/protocol/disco#info"

static const char iq_disco_info[] =
	"<query xmlns=\"" IQ_NS_DISCO_INFO "\">"
	"<identity category=\"server\" type=\"im\" name=\"Starling\"/>"
	"<feature var=\"" IQ_NS_DISCO_INFO "\"/>"
	"<feature var=\"jabber:iq:roster\"/>"
	"<feature var=\"" IQ_NS_PING "\"/>"
	"<feature var=\"" CARBONS_NS "\"/>"
	"<feature var=\"" BLOCKING_NS "\"/>"
	"</query>";

static int is_child(xmlNodePtr n, const char *ns, const char *name)
{
	return n->ns && !strcmp((const char *)n->ns->href, ns) &&
	       !strcmp((const char *)n->name, name);
}

/* RFC 6120 §8.2.3: a get or set carries exactly one payload element. */
static xmlNodePtr iq_payload(xmlDocPtr d)
{
	xmlNodePtr root = xmlDocGetRootElement(d), payload = NULL;
	int count = 0;
	for (xmlNodePtr n = root ? root->children : NULL; n; n = n->next)
		if (n->type == XML_ELEMENT_NODE) {
			payload = n;
			count++;
		}
	return count == 1 ? payload : NULL;
}

static void disco_info(struct core *c, struct session *origin, const struct wire_stanza *s,
		       xmlNodePtr q)
{
	xmlChar *node = xmlGetProp(q, (const xmlChar *)"node");
	if (node || s->type != STANZA_T_GET)
		router_error(c, s, node ? ROUTER_ERR_ITEM_NOT_FOUND : ROUTER_ERR_BAD_REQUEST);
	else
		router_iq_result(c, origin, s, iq_disco_info, sizeof iq_disco_info - 1);
	xmlFree(node);
}

void iq_handle(struct core *c, struct session *origin, const struct wire_stanza *s,
	       enum iq_target target)
{
	if (s->type != STANZA_T_GET && s->type != STANZA_T_SET)
		return; /* results and errors addressed to the server: nothing to do */
	xmlDocPtr d = xmlReadMemory(s->xml.p, (int)s->xml.len, NULL, NULL,
				    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	xmlNodePtr p = d ? iq_payload(d) : NULL;
	if (!p)
		router_error(c, s, ROUTER_ERR_BAD_REQUEST);
	else if (target == IQ_TO_OTHER)
		/* RFC 6121 §2.3.3: only the account itself may touch its roster */
		router_error(c, s, is_child(p, "jabber:iq:roster", "query")
					   ? ROUTER_ERR_FORBIDDEN
					   : ROUTER_ERR_SERVICE_UNAVAILABLE);
	else if (is_child(p, "jabber:iq:roster", "query"))
		roster_iq(c, origin, s, p);
	else if (target == IQ_TO_SERVER && is_child(p, IQ_NS_PING, "ping") &&
		 s->type == STANZA_T_GET)
		router_iq_result(c, origin, s, NULL, 0); /* XEP-0199 §4.2 */
	else if (target == IQ_TO_SERVER && is_child(p, IQ_NS_DISCO_INFO, "query"))
		disco_info(c, origin, s, p);
	else if (target != IQ_TO_OTHER && carbons_iq(c, origin, s, p))
		; /* XEP-0280 §4-5: answered */
	else if (target != IQ_TO_OTHER && blocking_iq(c, origin, s, p))
		; /* XEP-0191 §3: answered */
	else
		router_error(c, s, ROUTER_ERR_SERVICE_UNAVAILABLE); /* RFC 6120 §8.3.3.19 */
	xmlFreeDoc(d);
}
