/* iq: requests the server answers itself (RFC 6120 §8.2.3, §10.3.3).  Each
 * protocol lives in its own file and answers the requests in its namespace;
 * this file dispatches, advertises them (XEP-0030) and holds what they share. */
#include "iq.h"

#include <errno.h>
#include <libxml/parser.h>
#include <stdlib.h>
#include <string.h>

#include "blocking.h"
#include "caps.h"
#include "carbons.h"
#include "disco.h"
#include "entity_time.h"
#include "last.h"
#include "lib/version.h"
#include "pep.h"
#include "private.h"
#include "roster.h"
#include "router.h"
#include "vcard.h"
#include "version.h"

#define IQ_NS_PING "urn:xmpp:ping"


xmlNodePtr iq_child(xmlNodePtr n, const char *name, int *count)
{
	xmlNodePtr first = NULL;
	*count = 0;
	for (xmlNodePtr k = n ? n->children : NULL; k; k = k->next)
		if (k->type == XML_ELEMENT_NODE && (!name || !strcmp((const char *)k->name, name)) &&
		    !(*count)++)
			first = k;
	return first;
}

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

int iq_may_see(struct core *c, const char *account, const struct session *requester)
{
	char bare[CORE_JID_MAX];
	struct store_item it;
	if (session_bare_jid(c, requester->user, bare, sizeof bare) < 0)
		return 0;
	int rc = store_roster_get(c->store, account, bare, &it);
	if (rc)
		return rc == -ENOENT ? 0 : rc;
	rc = (it.sub & STORE_SUB_FROM) != 0;
	store_item_free(&it);
	return rc;
}

void iq_result(const struct iq_req *r, const char *inner, size_t len)
{
	router_iq_result(r->c, r->origin, r->s, inner, inner ? len : 0);
}

/* RFC 6120 §8.2.3: a get or set carries exactly one payload element. */
static xmlNodePtr iq_payload(xmlDocPtr d)
{
	int count;
	xmlNodePtr payload = iq_child(xmlDocGetRootElement(d), NULL, &count);
	return count == 1 ? payload : NULL;
}


/* The server's own protocols; 1 when one of them answered. */
static int server_iq(const struct iq_req *r)
{
	xmlNodePtr p = r->payload;
	if (r->target != IQ_TO_SERVER)
		return 0;
	if (!iq_is(p, IQ_NS_PING, "ping") || r->s->type != STANZA_T_GET)
		return 0;
	iq_result(r, NULL, 0); /* XEP-0199 §4.2 */
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
	if (server_iq(r) || disco_iq(r) || (r->target != IQ_TO_OTHER && carbons_iq(r->c, r->origin, r->s, p)) ||
	    (r->target != IQ_TO_OTHER && blocking_iq(r->c, r->origin, r->s, p)) ||
	    version_iq(r) || entity_time_iq(r) || last_iq(r) || vcard_iq(r) || private_iq(r) ||
	    pep_iq(r))
		return; /* answered */
	router_error(r->c, r->s, ROUTER_ERR_SERVICE_UNAVAILABLE); /* RFC 6120 §8.3.3.19 */
}

void iq_handle(struct core *c, struct session *origin, const struct wire_stanza *s,
	       enum iq_target target)
{
	if (s->type != STANZA_T_GET && s->type != STANZA_T_SET) {
		/* Results and errors to the server answer what it asked: only
		 * entity caps queries (caps.c); anything else is dropped. */
		if (origin && target == IQ_TO_SERVER)
			caps_iq_answer(c, origin, s);
		return;
	}
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
