/* iq: requests the server answers itself (RFC 6120 §8.2.3, §10.3.3).  Each
 * protocol lives in its own file and answers the requests in its namespace;
 * this file dispatches, advertises them (XEP-0030) and holds what they share. */
#include "iq.h"

#include <errno.h>
#include <libxml/parser.h>
#include <stdlib.h>
#include <string.h>

#include "blocking.h"
#include "carbons.h"
#include "entity_time.h"
#include "last.h"
#include "lib/version.h"
#include "private.h"
#include "roster.h"
#include "router.h"
#include "vcard.h"
#include "version.h"

#define IQ_NS_PING "urn:xmpp:ping"
#define IQ_NS_DISCO_INFO "http://jabber.org/protocol/disco#info"

/* Only what is implemented: XEP-0030 §3.2, a feature listed is one supported. */
static const char iq_disco_info[] =
	"<query xmlns=\"" IQ_NS_DISCO_INFO "\">"
	"<identity category=\"server\" type=\"im\" name=\"" STARLING_NAME "\"/>"
	"<feature var=\"" IQ_NS_DISCO_INFO "\"/>"
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

int iq_is(xmlNodePtr n, const char *ns, const char *name)
{
	return n->ns && !strcmp((const char *)n->ns->href, ns) &&
	       !strcmp((const char *)n->name, name);
}

int iq_to_self(const struct iq_req *r)
{
	return r->target == IQ_TO_ACCOUNT || (r->target == IQ_TO_SERVER && !r->s->to.len);
}

int iq_account(const struct iq_req *r, char *out, size_t cap)
{
	struct jid_view v;
	struct wire_str local;
	if (r->target == IQ_TO_OTHER) {
		core_jid_split(r->s->to, &v);
		local = core_jid_bare(&v); /* the store's key */
	} else if (iq_to_self(r))
		local = core_wstr(r->origin->user->bare);
	else
		return -ENOENT;
	if (local.len >= cap)
		return -ENAMETOOLONG;
	memcpy(out, local.p, local.len);
	out[local.len] = 0;
	return 0;
}

int iq_dump(xmlNodePtr n, size_t max, char **out)
{
	/* A copy in a document of its own declares on its root the namespaces
	 * that were declared on the ancestors left behind. */
	xmlDocPtr d = xmlNewDoc((const xmlChar *)"1.0");
	xmlNodePtr copy = d ? xmlDocCopyNode(n, d, 1) : NULL;
	xmlBufferPtr b = copy ? xmlBufferCreate() : NULL;
	int rc = -ENOMEM;
	if (b) {
		xmlDocSetRootElement(d, copy);
		int len = xmlNodeDump(b, d, copy, 0, 0);
		if (len >= 0 && (size_t)len > max)
			rc = -EMSGSIZE;
		else if (len >= 0 && (*out = strndup((const char *)xmlBufferContent(b), (size_t)len)))
			rc = 0;
		xmlBufferFree(b);
	} else if (copy)
		xmlFreeNode(copy);
	xmlFreeDoc(d);
	return rc;
}

void iq_result(const struct iq_req *r, const char *inner, size_t len)
{
	router_iq_result(r->c, r->origin, r->s, inner, inner ? len : 0);
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

static void disco_info(const struct iq_req *r)
{
	xmlChar *node = xmlGetProp(r->payload, (const xmlChar *)"node");
	if (node || r->s->type != STANZA_T_GET)
		router_error(r->c, r->s, node ? ROUTER_ERR_ITEM_NOT_FOUND : ROUTER_ERR_BAD_REQUEST);
	else
		iq_result(r, iq_disco_info, sizeof iq_disco_info - 1);
	xmlFree(node);
}

/* The server's own protocols; 1 when one of them answered. */
static int server_iq(const struct iq_req *r)
{
	xmlNodePtr p = r->payload;
	if (r->target != IQ_TO_SERVER)
		return 0;
	if (iq_is(p, IQ_NS_PING, "ping") && r->s->type == STANZA_T_GET)
		iq_result(r, NULL, 0); /* XEP-0199 §4.2 */
	else if (iq_is(p, IQ_NS_DISCO_INFO, "query"))
		disco_info(r);
	else
		return 0;
	return 1;
}

static void dispatch(const struct iq_req *r)
{
	xmlNodePtr p = r->payload;
	if (iq_is(p, "jabber:iq:roster", "query")) {
		if (r->target == IQ_TO_OTHER) /* RFC 6121 §2.3.3: only the account itself */
			router_error(r->c, r->s, ROUTER_ERR_FORBIDDEN);
		else
			roster_iq(r->c, r->origin, r->s, p);
		return;
	}
	if (server_iq(r) || (r->target != IQ_TO_OTHER && carbons_iq(r->c, r->origin, r->s, p)) ||
	    (r->target != IQ_TO_OTHER && blocking_iq(r->c, r->origin, r->s, p)) ||
	    version_iq(r) || entity_time_iq(r) || last_iq(r) || vcard_iq(r) || private_iq(r))
		return; /* answered */
	router_error(r->c, r->s, ROUTER_ERR_SERVICE_UNAVAILABLE); /* RFC 6120 §8.3.3.19 */
}

void iq_handle(struct core *c, struct session *origin, const struct wire_stanza *s,
	       enum iq_target target)
{
	if (s->type != STANZA_T_GET && s->type != STANZA_T_SET)
		return; /* results and errors addressed to the server: nothing to do */
	/* The router hands on requests to another account without the origin. */
	struct iq_req r = {.c = c, .origin = origin ? origin : router_sender(c, s), .s = s,
			   .target = target};
	xmlDocPtr d = xmlReadMemory(s->xml.p, (int)s->xml.len, NULL, NULL,
				    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	r.payload = d ? iq_payload(d) : NULL;
	if (!r.payload || !r.origin)
		/* No session behind 'from' (the cm always names one): nobody to
		 * answer for, but the error still goes wherever 'from' leads. */
		router_error(c, s, r.origin ? ROUTER_ERR_BAD_REQUEST : ROUTER_ERR_SERVICE_UNAVAILABLE);
	else
		dispatch(&r);
	xmlFreeDoc(d);
}
