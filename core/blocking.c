/* blocking: the Blocking Command (XEP-0191): the blocklist IQs, the pushes
 * to the user's resources, and the matching that router.c and presence.c ask
 * for on every stanza between two accounts. */
#include "blocking.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/jid.h"
#include "lib/log.h"
#include "presence.h"
#include "router.h"

/* Shared by every user whose list is loaded and empty (most users): no
 * allocation for them.  Never freed. */
static struct blocklist blocking_empty;

static void list_free(struct blocklist *b)
{
	if (!b || b == &blocking_empty)
		return;
	store_strings_free(b->jid, b->n);
	free(b);
}

void blocking_free(struct core_user *u)
{
	list_free(u->blocked);
	u->blocked = NULL;
}

/* Reads the account's list from the store: a malloc'd list, &blocking_empty,
 * or NULL on a store failure. */
static struct blocklist *list_load(struct core *c, const char *bare)
{
	struct blocklist *b = calloc(1, sizeof *b);
	if (!b)
		return NULL;
	if (store_block_load(c->store, bare, &b->jid, &b->n)) {
		free(b);
		return NULL;
	}
	if (!b->n) {
		free(b->jid);
		free(b);
		return &blocking_empty;
	}
	return b;
}

/* The online user's list, loaded on first use. */
static struct blocklist *user_list(struct core *c, struct core_user *u)
{
	if (!u->blocked)
		u->blocked = list_load(c, u->bare);
	return u->blocked;
}

static int has(const struct blocklist *b, const char *p, size_t len)
{
	size_t lo = 0, hi = b->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const char *e = b->jid[mid];
		size_t el = strlen(e);
		int cmp = memcmp(e, p, el < len ? el : len);
		if (!cmp)
			cmp = el < len ? -1 : el > len;
		if (!cmp)
			return 1;
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* XEP-0191 §6 (the order of XEP-0016): the full JID, the bare JID, the
 * domain with the resource, the domain. */
static int matches(const struct blocklist *b, struct wire_str jid)
{
	struct jid_view v;
	char dr[CORE_JID_MAX];
	if (!b->n)
		return 0;
	core_jid_split(jid, &v);
	size_t bare = v.has_resource ? (size_t)(v.resource.p - 1 - jid.p) : jid.len;
	if (has(b, jid.p, jid.len) || has(b, jid.p, bare) || has(b, v.domain.p, v.domain.len))
		return 1;
	if (!v.has_local || !v.has_resource)
		return 0;
	int n = snprintf(dr, sizeof dr, "%.*s/%.*s", (int)v.domain.len, v.domain.p,
			 (int)v.resource.len, v.resource.p);
	return n > 0 && (size_t)n < sizeof dr && has(b, dr, (size_t)n);
}

/* The account itself is never blocked (XEP-0191 §5, note). */
static int is_self(struct wire_str bare, struct wire_str jid)
{
	struct jid_view v;
	core_jid_split(jid, &v);
	return v.has_local && core_wstr_eq(core_jid_bare(&v), bare);
}

int blocking_blocks(struct core *c, struct core_user *u, struct wire_str bare,
		    struct wire_str jid)
{
	if (u) {
		/* Most users block nobody: that answer costs no parsing. */
		struct blocklist *b = user_list(c, u);
		return b && b->n && !is_self(core_wstr(u->bare), jid) && matches(b, jid);
	}
	if (is_self(bare, jid))
		return 0;
	char name[CORE_JID_MAX];
	if (!bare.len || bare.len >= sizeof name)
		return 0;
	memcpy(name, bare.p, bare.len);
	name[bare.len] = '\0';
	struct blocklist *b = list_load(c, name);
	int hit = b && matches(b, jid);
	list_free(b);
	return hit;
}

/* <name xmlns="urn:xmpp:blocking"> with an <item jid=".."/> per entry, or
 * empty: the blocklist (§3.1) and the block/unblock pushes (§3.3-§3.5). */
static int list_xml(struct buf *x, const char *name, char **jids, size_t n)
{
	if (buf_append_str(x, "<") || buf_append_str(x, name) ||
	    buf_append_str(x, " xmlns=\"" BLOCKING_NS "\""))
		return -ENOMEM;
	if (!n)
		return buf_append_str(x, "/>");
	if (buf_append_str(x, ">"))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (buf_append_str(x, "<item jid=\"") ||
		    buf_append_xml_escaped(x, jids[i], strlen(jids[i])) || buf_append_str(x, "\"/>"))
			return -ENOMEM;
	return buf_append_str(x, "</") || buf_append_str(x, name) || buf_append_str(x, ">");
}

/* §3.3-3.5: the change goes to every resource that asked for the list. */
static void push(struct core *c, struct core_user *u, const char *what, char **jids, size_t n)
{
	struct buf x = {0};
	if (!list_xml(&x, what, jids, n))
		router_push(c, u, SESSION_BLOCKLIST, buf_head(&x), buf_avail(&x));
	buf_free(&x);
}

/* §3.1: the whole list; the session now gets pushes. */
static void get_list(struct core *c, struct session *origin, const struct wire_stanza *s)
{
	struct blocklist *b = user_list(c, origin->user);
	struct buf x = {0};
	if (!b || list_xml(&x, "blocklist", b->jid, b->n)) {
		router_error(c, s, ROUTER_ERR_INTERNAL);
	} else {
		origin->flags |= SESSION_BLOCKLIST;
		router_iq_result(c, origin, s, buf_head(&x), buf_avail(&x));
	}
	buf_free(&x);
}

/* One <item/>'s JID, prepared (malloc'd), or NULL with *err set: a JID that
 * fails preparation is <jid-malformed/> (RFC 6120 §8.3.3.8). */
static char *item_jid(xmlNodePtr it, enum router_err *err)
{
	xmlChar *raw = xmlGetProp(it, (const xmlChar *)"jid");
	struct jid j;
	int rc = raw ? jid_parse((const char *)raw, &j) : -EINVAL;
	xmlFree(raw);
	*err = rc == -EINVAL ? ROUTER_ERR_JID_MALFORMED : ROUTER_ERR_INTERNAL;
	if (rc)
		return NULL;
	char *full = jid_full(&j);
	jid_free(&j);
	return full;
}

/* The JIDs of cmd's <item/> children into a malloc'd array. */
static int parse_items(xmlNodePtr cmd, char ***out, size_t *n, enum router_err *err)
{
	char **v = NULL;
	size_t cnt = 0, cap = 0;
	for (xmlNodePtr it = cmd->children; it; it = it->next) {
		if (it->type != XML_ELEMENT_NODE || strcmp((const char *)it->name, "item"))
			continue;
		char *full = item_jid(it, err);
		if (full && cnt == cap) {
			char **nv = realloc(v, (cap ? cap * 2 : 4) * sizeof *v);
			if (nv) {
				v = nv;
				cap = cap ? cap * 2 : 4;
			} else {
				free(full);
				full = NULL;
				*err = ROUTER_ERR_INTERNAL;
			}
		}
		if (!full) {
			store_strings_free(v, cnt);
			return -1;
		}
		v[cnt++] = full;
	}
	*out = v;
	*n = cnt;
	return 0;
}

/* Writes the change in one transaction; 0 or the error to answer. */
static int apply(struct core *c, const char *bare, int block, char **jids, size_t n,
		 enum router_err *err)
{
	*err = ROUTER_ERR_INTERNAL;
	if (store_begin(c->store))
		return -1;
	int rc = 0;
	for (size_t i = 0; !rc && i < n; i++)
		rc = block ? store_block_add(c->store, bare, jids[i])
			   : store_block_del(c->store, bare, jids[i]);
	if (!rc && !block && !n)
		rc = store_block_clear(c->store, bare);
	if (!rc && block) {
		struct blocklist *b = list_load(c, bare);
		if (!b || b->n > BLOCKING_MAX) {
			*err = b ? ROUTER_ERR_RESOURCE_CONSTRAINT : ROUTER_ERR_INTERNAL;
			rc = -1;
		}
		list_free(b);
	}
	if (rc || store_commit(c->store)) {
		store_rollback(c->store);
		return -1;
	}
	return 0;
}

/* §3.3 / §3.4: blocked contacts see the user go unavailable, unblocked
 * ones get its current presence (presence.c applies RFC 6121's rules). */
static void tell_contacts(struct core *c, struct core_user *u, char **jids, size_t n, int block)
{
	for (size_t i = 0; i < n; i++)
		presence_block_changed(c, u, jids[i], block);
}

static void change(struct core *c, struct session *origin, const struct wire_stanza *s,
		   xmlNodePtr cmd, int block)
{
	struct core_user *u = origin->user;
	char **jids = NULL, **old = NULL;
	size_t n = 0, nold = 0;
	enum router_err err;
	if (parse_items(cmd, &jids, &n, &err)) {
		router_error(c, s, err);
		return;
	}
	if (block && !n) {
		router_error(c, s, ROUTER_ERR_BAD_REQUEST); /* §3.3: at least one item */
		return;
	}
	if (!block && !n && store_block_load(c->store, u->bare, &old, &nold)) {
		router_error(c, s, ROUTER_ERR_INTERNAL);
		return;
	}
	if (apply(c, u->bare, block, jids, n, &err)) {
		router_error(c, s, err);
	} else {
		blocking_free(u); /* reloaded on next use */
		router_iq_result(c, origin, s, NULL, 0);
		push(c, u, block ? "block" : "unblock", jids, n);
		if (n)
			tell_contacts(c, u, jids, n, block);
		else
			tell_contacts(c, u, old, nold, 0);
	}
	store_strings_free(jids, n);
	store_strings_free(old, nold);
}

int blocking_iq(struct core *c, struct session *origin, const struct wire_stanza *s,
		xmlNodePtr p)
{
	if (!p->ns || strcmp((const char *)p->ns->href, BLOCKING_NS))
		return 0;
	const char *name = (const char *)p->name;
	int get = s->type == STANZA_T_GET;
	if (!strcmp(name, "blocklist"))
		get ? get_list(c, origin, s) : router_error(c, s, ROUTER_ERR_BAD_REQUEST);
	else if (!strcmp(name, "block") || !strcmp(name, "unblock"))
		get ? router_error(c, s, ROUTER_ERR_BAD_REQUEST)
		    : change(c, origin, s, p, name[0] == 'b');
	else
		return 0;
	return 1;
}
