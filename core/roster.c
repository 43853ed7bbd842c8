/* roster: the jabber:iq:roster protocol (RFC 6121 §2).  Changes are
 * committed before the push and the result go out. */
#include "roster.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/jid.h"
#include "lib/log.h"
#include "router.h"
#include "subscribe.h"
#include "subscription.h"

#define ROSTER_NS "jabber:iq:roster"
#define ROSTER_NAME_MAX 1023
#define ROSTER_GROUPS_MAX 64

int roster_item_xml(struct buf *b, const struct store_item *it, int removed)
{
	const char *sub = removed ? "remove" : sub_name(it->sub);
	if (buf_append_str(b, "<item jid=\"") ||
	    buf_append_xml_escaped(b, it->contact, strlen(it->contact)) ||
	    buf_append_str(b, "\""))
		return -ENOMEM;
	if (!removed && it->name &&
	    (buf_append_str(b, " name=\"") ||
	     buf_append_xml_escaped(b, it->name, strlen(it->name)) || buf_append_str(b, "\"")))
		return -ENOMEM;
	if (buf_append_str(b, " subscription=\"") || buf_append_str(b, sub) ||
	    buf_append_str(b, "\""))
		return -ENOMEM;
	/* RFC 6121 §2.1.2.2: ask only for a pending outbound request;
	 * §2.1.2.1: approved only for a pre-approval. */
	if (!removed && it->ask && buf_append_str(b, " ask=\"subscribe\""))
		return -ENOMEM;
	if (!removed && it->approved && buf_append_str(b, " approved=\"true\""))
		return -ENOMEM;
	if (removed || !it->groups || !*it->groups)
		return buf_append_str(b, "/>");
	if (buf_append_str(b, ">"))
		return -ENOMEM;
	for (const char *g = it->groups; g;) {
		const char *nl = strchr(g, '\n');
		size_t n = nl ? (size_t)(nl - g) : strlen(g);
		if (buf_append_str(b, "<group>") || buf_append_xml_escaped(b, g, n) ||
		    buf_append_str(b, "</group>"))
			return -ENOMEM;
		g = nl ? nl + 1 : NULL;
	}
	return buf_append_str(b, "</item>");
}

/* The roster's version as the 'ver' string (RFC 6121 §2.6), or NULL when the
 * store cannot say (the roster then goes out unversioned). */
static const char *roster_ver(struct core *c, const char *local, char *buf, size_t cap)
{
	int64_t v;
	if (store_roster_version(c->store, local, &v))
		return NULL;
	snprintf(buf, cap, "%lld", (long long)v);
	return buf;
}

static int query_open(struct buf *x, const char *ver)
{
	if (buf_append_str(x, "<query xmlns=\"" ROSTER_NS "\""))
		return -ENOMEM;
	if (ver && (buf_append_str(x, " ver=\"") || buf_append_str(x, ver) ||
		    buf_append_str(x, "\"")))
		return -ENOMEM;
	return buf_append_str(x, ">");
}

void roster_push(struct core *c, const char *local, const struct store_item *it, int removed)
{
	struct core_user *u = session_user(c, local, strlen(local));
	if (!u || it->hidden)
		return;
	struct buf x = {0};
	char ver[48];
	if (!query_open(&x, roster_ver(c, local, ver, sizeof ver)) &&
	    !roster_item_xml(&x, it, removed) && !buf_append_str(&x, "</query>"))
		router_push(c, u, SESSION_INTERESTED, buf_head(&x), buf_avail(&x));
	buf_free(&x);
}

/* RFC 6121 §2.6.3: a client that names the version it holds gets an empty
 * result when that is still the roster's version (changes then come as
 * pushes); otherwise, and for a client that names none, the whole roster. */
static void roster_get(struct core *c, struct session *origin, const struct wire_stanza *s,
		       xmlNodePtr query)
{
	char verbuf[48];
	xmlChar *want = query ? xmlGetProp(query, (const xmlChar *)"ver") : NULL;
	const char *ver = want ? roster_ver(c, origin->user->bare, verbuf, sizeof verbuf) : NULL;
	int same = ver && !strcmp((const char *)want, ver);
	xmlFree(want);
	if (same) {
		origin->flags |= SESSION_INTERESTED;
		router_iq_result(c, origin, s, NULL, 0);
		return;
	}
	struct store_item *items = NULL;
	size_t n = 0;
	if (store_roster_load(c->store, origin->user->bare, &items, &n)) {
		router_error(c, s, ROUTER_ERR_INTERNAL);
		return;
	}
	struct buf x = {0};
	int rc = query_open(&x, ver);
	for (size_t i = 0; !rc && i < n; i++)
		if (!items[i].hidden)
			rc = roster_item_xml(&x, &items[i], 0);
	if (!rc)
		rc = buf_append_str(&x, "</query>");
	store_items_free(items, n);
	if (rc) {
		router_error(c, s, ROUTER_ERR_INTERNAL);
	} else {
		/* RFC 6121 §2.1.6: from now on this resource gets pushes. */
		origin->flags |= SESSION_INTERESTED;
		router_iq_result(c, origin, s, buf_head(&x), buf_avail(&x));
	}
	buf_free(&x);
}

static int is_elem(xmlNodePtr n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name) && n->ns &&
	       !strcmp((const char *)n->ns->href, ROSTER_NS);
}

/* Whether the '\n'-joined list g already holds the group t (len bytes). */
static int has_group(const struct buf *g, const char *t, size_t len)
{
	const char *p = g->data ? buf_head(g) : NULL, *e = p ? p + buf_avail(g) : NULL;
	while (p && p < e) {
		const char *nl = memchr(p, '\n', (size_t)(e - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(e - p);
		if (l == len && !memcmp(p, t, len))
			return 1;
		p += l + 1;
	}
	return 0;
}

/* Checks one <group/> text and appends it to g.  RFC 6121 §2.3.3: empty or
 * over the limit => not-acceptable (so is one group too many, or a line
 * break, which the store uses as separator); a duplicate => bad-request. */
static int add_group(struct buf *g, const char *t, int count, enum router_err *err)
{
	size_t len = t ? strlen(t) : 0;
	*err = ROUTER_ERR_NOT_ACCEPTABLE;
	if (!len || len > ROSTER_NAME_MAX || strchr(t, '\n') || count > ROSTER_GROUPS_MAX)
		return -EINVAL;
	*err = ROUTER_ERR_BAD_REQUEST;
	if (has_group(g, t, len))
		return -EINVAL;
	*err = ROUTER_ERR_INTERNAL;
	if ((buf_avail(g) && buf_append(g, "\n", 1)) || buf_append(g, t, len))
		return -ENOMEM;
	return 0;
}

/* Collects the item's <group/> texts joined by '\n' (malloc'd into *out,
 * NULL when none). */
static int collect_groups(xmlNodePtr item, char **out, enum router_err *err)
{
	struct buf g = {0};
	int count = 0, rc = 0;
	*out = NULL;
	for (xmlNodePtr n = item->children; n && !rc; n = n->next) {
		if (!is_elem(n, "group"))
			continue;
		xmlChar *t = xmlNodeGetContent(n);
		rc = add_group(&g, (const char *)t, ++count, err);
		xmlFree(t);
	}
	if (!rc && buf_avail(&g) && buf_append(&g, "", 1)) {
		*err = ROUTER_ERR_INTERNAL;
		rc = -ENOMEM;
	}
	if (rc) {
		buf_free(&g);
		return rc;
	}
	*out = g.data; /* NUL-terminated above; caller frees */
	return 0;
}

/* RFC 6121 §2.5.2: cancel both directions, delete, push the removal.
 * §2.5.3: an item that is not in the roster (a hidden row, kept only for a
 * pending inbound request, is not) is item-not-found. */
static void roster_remove(struct core *c, struct session *origin, const struct wire_stanza *s,
			  const char *contact)
{
	const char *local = origin->user->bare;
	struct store_item it = {0};
	int rc = store_roster_get(c->store, local, contact, &it);
	if (rc || it.hidden) {
		store_item_free(&it);
		router_error(c, s, rc && rc != -ENOENT ? ROUTER_ERR_INTERNAL
						       : ROUTER_ERR_ITEM_NOT_FOUND);
		return;
	}
	if ((it.sub & STORE_SUB_FROM) || it.pending_in)
		subscribe_handle(c, local, contact, STANZA_T_UNSUBSCRIBED, core_wstr(NULL), 1);
	if ((it.sub & STORE_SUB_TO) || it.ask)
		subscribe_handle(c, local, contact, STANZA_T_UNSUBSCRIBE, core_wstr(NULL), 1);
	rc = store_roster_del(c->store, local, contact);
	if (rc && rc != -ENOENT) {
		router_error(c, s, ROUTER_ERR_INTERNAL);
	} else {
		roster_push(c, local, &it, 1);
		router_iq_result(c, origin, s, NULL, 0);
	}
	store_item_free(&it);
}

/* What a roster set asks of an item besides its JID.  RFC 6121 §2.3.3: a
 * name over the limit is not-acceptable; §2.4.1: an empty name is the same
 * as none.  On failure both are NULL and *err says why. */
struct item_req {
	char *name, *groups;
};

static int read_item(xmlNodePtr item, struct item_req *r, enum router_err *err)
{
	memset(r, 0, sizeof *r);
	xmlChar *name = xmlGetProp(item, (const xmlChar *)"name");
	size_t len = name ? strlen((const char *)name) : 0;
	if (len > ROSTER_NAME_MAX) {
		xmlFree(name);
		*err = ROUTER_ERR_NOT_ACCEPTABLE;
		return -EINVAL;
	}
	r->name = len ? strdup((const char *)name) : NULL;
	xmlFree(name);
	if (len && !r->name) {
		*err = ROUTER_ERR_INTERNAL;
		return -ENOMEM;
	}
	if (collect_groups(item, &r->groups, err)) {
		free(r->name);
		r->name = NULL;
		return -EINVAL;
	}
	return 0;
}

/* 1 when local's roster holds CORE_ROSTER_MAX rows, 0 when not, <0 on a
 * store error. */
static int roster_full(struct core *c, const char *local)
{
	size_t n = 0;
	struct store_item *all = NULL;
	int rc = store_roster_load(c->store, local, &all, &n);
	store_items_free(all, n);
	return rc ? rc : n >= CORE_ROSTER_MAX;
}

/* The stored item for contact, or a new one if the roster has room.  A full
 * roster is a local service policy the client can comply with by removing
 * items: <policy-violation/> (RFC 6120 §8.3.3.12; RFC 6121 §2.3.3 lets
 * "other stanza errors" occur and names none for this). */
static int item_for(struct core *c, const char *local, const char *contact,
		    struct store_item *it, enum router_err *err)
{
	memset(it, 0, sizeof *it);
	int rc = store_roster_get(c->store, local, contact, it);
	if (rc != -ENOENT)
		return rc;
	memset(it, 0, sizeof *it);
	rc = roster_full(c, local);
	if (rc) {
		*err = rc > 0 ? ROUTER_ERR_POLICY_VIOLATION : ROUTER_ERR_INTERNAL;
		return rc > 0 ? -ENOSPC : rc;
	}
	it->contact = strdup(contact);
	return it->contact ? 0 : -ENOMEM;
}

/* Adds or updates one item (RFC 6121 §2.3, §2.4).  The item takes the name
 * and groups exactly as given (§2.4.1); its subscription state stays the
 * server's: 'subscription' (other than "remove"), 'ask' and 'approved' in
 * a set are ignored (§2.1.2.5, §2.1.2.2, §2.1.2.1). */
static void roster_update(struct core *c, struct session *origin, const struct wire_stanza *s,
			  const char *contact, xmlNodePtr item)
{
	const char *local = origin->user->bare;
	enum router_err err = ROUTER_ERR_INTERNAL;
	struct item_req r;
	struct store_item it = {0};
	int rc = read_item(item, &r, &err);
	if (!rc)
		rc = item_for(c, local, contact, &it, &err);
	if (!rc) {
		free(it.name);
		free(it.groups);
		it.name = r.name;
		it.groups = r.groups;
		r.name = r.groups = NULL;
		it.hidden = 0;
		rc = store_roster_put(c->store, local, &it);
	}
	free(r.name);
	free(r.groups);
	if (rc) {
		router_error(c, s, err);
	} else {
		roster_push(c, local, &it, 0);
		router_iq_result(c, origin, s, NULL, 0);
	}
	store_item_free(&it);
}

/* The item's 'jid', prepared (malloc'd), or NULL with *err: bad-request
 * when it is missing (RFC 6121 §2.1.2.3: REQUIRED), jid-malformed when it
 * is not a JID (RFC 6120 §8.3.3.8; RFC 6121 §2.3.3 names no condition). */
static char *item_jid(xmlNodePtr item, enum router_err *err)
{
	xmlChar *raw = xmlGetProp(item, (const xmlChar *)"jid");
	struct jid j;
	char *out = NULL;
	int rc = raw ? jid_parse((const char *)raw, &j) : -EINVAL;
	if (!rc) {
		out = jid_full(&j);
		jid_free(&j);
	}
	if (!raw)
		*err = ROUTER_ERR_BAD_REQUEST;
	else if (rc == -EINVAL)
		*err = ROUTER_ERR_JID_MALFORMED;
	else
		*err = ROUTER_ERR_INTERNAL;
	xmlFree(raw);
	return out;
}

/* RFC 6121 §2.1.5, §2.3.3: exactly one <item/>, else bad-request. */
static xmlNodePtr only_item(xmlNodePtr query)
{
	xmlNodePtr item = NULL;
	int count = 0;
	for (xmlNodePtr n = query->children; n; n = n->next)
		if (n->type == XML_ELEMENT_NODE) {
			count++;
			item = is_elem(n, "item") ? n : NULL;
		}
	return count == 1 ? item : NULL;
}

static void roster_set(struct core *c, struct session *origin, const struct wire_stanza *s,
		       xmlNodePtr query)
{
	enum router_err err = ROUTER_ERR_BAD_REQUEST;
	xmlNodePtr item = only_item(query);
	char *contact = item ? item_jid(item, &err) : NULL;
	if (!contact) {
		router_error(c, s, err);
		return;
	}
	/* The user's own bare JID is accepted: §2.3.3 defines no error for
	 * it (its interoperability note only reports that some servers
	 * return not-allowed). */
	xmlChar *sub = xmlGetProp(item, (const xmlChar *)"subscription");
	if (sub && !strcmp((const char *)sub, "remove"))
		roster_remove(c, origin, s, contact); /* §2.5 */
	else /* any other 'subscription' value is ignored (§2.1.2.5) */
		roster_update(c, origin, s, contact, item);
	xmlFree(sub);
	free(contact);
}

void roster_iq(struct core *c, struct session *origin, const struct wire_stanza *s,
	       xmlNodePtr query)
{
	if (s->type == STANZA_T_GET)
		roster_get(c, origin, s, query);
	else if (s->type == STANZA_T_SET)
		roster_set(c, origin, s, query);
}
