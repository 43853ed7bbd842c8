/* private: XEP-0049 Private XML Storage.  The element in the query is stored
 * whole under "private:" + its namespace + " " + its name; one element per
 * request (a set may carry several of one namespace, §2.3: not supported). */
#include "private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router.h"

#define PRIVATE_KEY "private:"

/* The query's only element child, NULL when it has none or several. */
static xmlNodePtr private_child(xmlNodePtr q)
{
	int n;
	xmlNodePtr one = iq_child(q, NULL, &n);
	return n == 1 ? one : NULL;
}

/* §2.3: the child needs a namespace of its own; a child without one
 * inherits jabber:iq:private.  The stream's namespaces are refused too. */
static int private_ns_ok(xmlNodePtr n)
{
	static const char *const reserved[] = {"jabber:client", "jabber:server", PRIVATE_NS};
	if (!n->ns || !n->ns->href || !*n->ns->href)
		return 0;
	for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
		if (!strcmp((const char *)n->ns->href, reserved[i]))
			return 0;
	return 1;
}

static char *private_key(xmlNodePtr n)
{
	char *key;
	if (asprintf(&key, PRIVATE_KEY "%s %s", (const char *)n->ns->href, (const char *)n->name) < 0)
		return NULL;
	return key;
}

/* The stored element, or the empty one asked for (§2.3: nothing stored). */
static void private_get(const struct iq_req *r, const char *local, const char *key,
			xmlNodePtr child)
{
	char *xml = NULL;
	struct buf x = {0};
	int rc = store_xml_get(r->c->store, local, key, &xml);
	if (!rc || rc == -ENOENT) {
		const char *ns = (const char *)child->ns->href;
		rc = buf_append_str(&x, "<query xmlns=\"" PRIVATE_NS "\">");
		if (!rc && xml)
			rc = buf_append_str(&x, xml);
		else if (!rc)
			rc = buf_append_str(&x, "<") || buf_append_str(&x, (const char *)child->name) ||
			     buf_append_str(&x, " xmlns=\"") ||
			     buf_append_xml_escaped(&x, ns, strlen(ns)) || buf_append_str(&x, "\"/>");
		rc = rc || buf_append_str(&x, "</query>");
	}
	if (rc)
		router_error(r->c, r->s, ROUTER_ERR_INTERNAL);
	else
		iq_result(r, buf_head(&x), buf_avail(&x));
	buf_free(&x);
	free(xml);
}

/* 0, -EMSGSIZE (document too big), -EDQUOT (too many documents), other errno. */
static int private_store(const struct iq_req *r, const char *local, const char *key,
			 xmlNodePtr child)
{
	/* An empty element stores nothing a get would not answer anyway: the
	 * document is removed, which is also how a full account makes room. */
	if (!child->children && !child->properties)
		return store_xml_put(r->c->store, local, key, NULL);
	char *xml = NULL;
	int rc = iq_dump(child, PRIVATE_MAX, &xml);
	if (!rc) {
		int n = store_xml_count(r->c->store, local, PRIVATE_KEY, key);
		rc = n < 0 ? n : n >= PRIVATE_DOCS_MAX ? -EDQUOT : 0;
	}
	if (!rc)
		rc = store_xml_put(r->c->store, local, key, xml);
	free(xml);
	return rc;
}

static void private_set(const struct iq_req *r, const char *local, const char *key,
			xmlNodePtr child)
{
	int rc = private_store(r, local, key, child);
	if (!rc)
		iq_result(r, NULL, 0);
	else
		/* Over a limit: RFC 6120 §8.3.3.13, the request does not meet the
		 * server's criteria; a smaller or removed document will. */
		router_error(r->c, r->s, rc == -EMSGSIZE || rc == -EDQUOT
						 ? ROUTER_ERR_NOT_ACCEPTABLE
						 : ROUTER_ERR_INTERNAL);
}

int private_iq(const struct iq_req *r)
{
	if (!iq_is(r->payload, PRIVATE_NS, "query"))
		return 0;
	char local[CORE_JID_MAX];
	if (!iq_to_self(r) || iq_account(r, local, sizeof local)) {
		/* §2.3: another user's data (or the server's) is forbidden, the
		 * preferred of the two conditions the XEP allows. */
		router_error(r->c, r->s, ROUTER_ERR_FORBIDDEN);
		return 1;
	}
	xmlNodePtr child = private_child(r->payload);
	char *key = child && private_ns_ok(child) ? private_key(child) : NULL;
	if (!child || !private_ns_ok(child))
		/* §2.3: one child with a proper namespace MUST be there */
		router_error(r->c, r->s, ROUTER_ERR_NOT_ACCEPTABLE);
	else if (!key)
		router_error(r->c, r->s, ROUTER_ERR_INTERNAL);
	else if (r->s->type == STANZA_T_GET)
		private_get(r, local, key, child);
	else
		private_set(r, local, key, child);
	free(key);
	return 1;
}
