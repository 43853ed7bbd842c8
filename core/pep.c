/* pep: XEP-0163 requests and notifications (pep.h says what PEP is here).
 * Items are kept as the serialised payload element; a notification is built
 * around it once and multicast, one frame per cm link (router_mcast). */
#include "pep.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blocking.h"
#include "caps.h"
#include "disco.h"
#include "fanout.h"
#include "lib/log.h"
#include "pep_config.h"
#include "router.h"
#include "store.h"

#define PUBSUB_OWNER_NS PUBSUB_NS "#owner"
#define PUBSUB_EVENT_NS PUBSUB_NS "#event"
#define PUBSUB_ERR(cond) "<" cond " xmlns=\"" PUBSUB_NS "#errors\"/>"

/* XEP-0060 §7, §8 errors: a stanza error with its pubsub#errors element. */
enum pep_err {
	PEP_OK, /* no error */
	PEP_INTERNAL,
	PEP_NODEID_REQUIRED,
	PEP_ITEM_REQUIRED,
	PEP_INVALID_PAYLOAD,
	PEP_PAYLOAD_TOO_BIG,
	PEP_PRECONDITION,
	PEP_PRESENCE_REQUIRED,
	PEP_CLOSED_NODE,
	PEP_MAX_NODES,
	PEP_QUOTA,
};

static const struct {
	enum router_err cond;
	const char *app;
} pep_errs[] = {
	[PEP_INTERNAL] = {ROUTER_ERR_INTERNAL, NULL},
	[PEP_NODEID_REQUIRED] = {ROUTER_ERR_BAD_REQUEST, PUBSUB_ERR("nodeid-required")},
	[PEP_ITEM_REQUIRED] = {ROUTER_ERR_BAD_REQUEST, PUBSUB_ERR("item-required")},
	[PEP_INVALID_PAYLOAD] = {ROUTER_ERR_BAD_REQUEST, PUBSUB_ERR("invalid-payload")},
	[PEP_PAYLOAD_TOO_BIG] = {ROUTER_ERR_NOT_ACCEPTABLE, PUBSUB_ERR("payload-too-big")},
	[PEP_PRECONDITION] = {ROUTER_ERR_CONFLICT, PUBSUB_ERR("precondition-not-met")},
	[PEP_PRESENCE_REQUIRED] = {ROUTER_ERR_NOT_AUTHORIZED,
				   PUBSUB_ERR("presence-subscription-required")},
	[PEP_CLOSED_NODE] = {ROUTER_ERR_NOT_ALLOWED, PUBSUB_ERR("closed-node")},
	[PEP_MAX_NODES] = {ROUTER_ERR_NOT_ALLOWED, PUBSUB_ERR("max-nodes-exceeded")},
	/* RFC 6120 §8.3.3.10: a smaller item, or fewer kept, would do */
	[PEP_QUOTA] = {ROUTER_ERR_NOT_ACCEPTABLE, NULL},
};

/* A request in the pubsub namespaces: the operation element, its node, and
 * the account (bare JID) whose service it addresses. */
struct pep_op {
	const struct iq_req *r;
	xmlNodePtr el;
	char *node; /* xmlGetProp; NULL when absent */
	char owner[CORE_JID_MAX];
};

static void pep_error(const struct pep_op *o, enum pep_err e)
{
	router_error_app(o->r->c, o->r->s, pep_errs[e].cond, pep_errs[e].app);
}

static void err(const struct pep_op *o, enum router_err cond)
{
	router_error(o->r->c, o->r->s, cond);
}

static int is_el(xmlNodePtr n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name);
}

/* <message type="headline"><event>inner</event></message> from the owner
 * to every available resource that asked for the node (XEP-0163 §4.3.1):
 * the owner's own, and for a node not whitelisted, the contacts' that the
 * owner's presence goes to (§4.3.3), none of them blocked either way. */
static void add_interested(struct core *c, struct core_user *u, const char *node)
{
	char to[CORE_JID_MAX];
	for (struct session *t = u->sessions; t; t = t->user_next)
		if ((t->flags & SESSION_AVAILABLE) && caps_wants(t, node) &&
		    session_full_jid(c, t, to, sizeof to) >= 0)
			router_mcast_add(c, t, to);
}

static int event_message(struct buf *x, const char *inner, size_t len)
{
	return buf_append_str(x, "<message type=\"headline\"><event xmlns=\"" PUBSUB_EVENT_NS
				 "\">") ||
	       buf_append(x, inner, len) || buf_append_str(x, "</event></message>");
}

static void notify(struct core *c, struct core_user *owner, const char *node, uint8_t access,
		   const struct buf *inner)
{
	struct buf x = {0};
	if (event_message(&x, buf_head(inner), buf_avail(inner))) {
		buf_free(&x);
		return;
	}
	struct wire_stanza st = {.kind = STANZA_MESSAGE, .type = STANZA_T_HEADLINE,
				 .from = core_wstr(owner->bare),
				 .xml = {buf_head(&x), (uint32_t)buf_avail(&x)}};
	router_mcast_begin(c, &st);
	add_interested(c, owner, node);
	struct fanout *f = access == STORE_PEP_WHITELIST ? NULL : fanout_get(c, owner);
	for (size_t i = 0; f && i < f->n; i++) {
		struct core_user *cu = session_user(c, f->contact[i], strlen(f->contact[i]));
		if (cu && cu != owner && /* an own bare JID on the roster: told already */
		    !blocking_blocks(c, owner, core_wstr(NULL), core_wstr(f->contact[i])) &&
		    !blocking_blocks(c, cu, core_wstr(NULL), st.from))
			add_interested(c, cu, node);
	}
	if (f)
		fanout_put(owner, f);
	router_mcast_end(c);
	buf_free(&x);
}

/* <items node="N"><item id="I">xml</item></items>, or with xml NULL the
 * retraction <items node="N"><retract id="I"/></items> (XEP-0060 §7.2.2.1). */
static int items_xml(struct buf *x, const char *node, const char *id, const char *xml)
{
	int rc = buf_append_str(x, "<items node=\"") ||
		 buf_append_xml_escaped(x, node, strlen(node)) || buf_append_str(x, "\">");
	rc = rc || buf_append_str(x, xml ? "<item id=\"" : "<retract id=\"") ||
	     buf_append_xml_escaped(x, id, strlen(id)) || buf_append_str(x, xml ? "\">" : "\"/>");
	if (xml)
		rc = rc || buf_append_str(x, xml) || buf_append_str(x, "</item>");
	return rc || buf_append_str(x, "</items>") ? -ENOMEM : 0;
}

/* An event that names the node only: <tag node="N"/> (delete, purge). */
static void notify_node(struct core *c, const struct pep_op *o, const char *tag, uint8_t access)
{
	struct buf x = {0};
	if (!buf_append_str(&x, "<") && !buf_append_str(&x, tag) &&
	    !buf_append_str(&x, " node=\"") &&
	    !buf_append_xml_escaped(&x, o->node, strlen(o->node)) && !buf_append_str(&x, "\"/>"))
		notify(c, o->r->origin->user, o->node, access, &x);
	buf_free(&x);
}

/* XEP-0060 §7.1.4: an item without an id gets one unique to the node. */
static void new_item_id(struct core *c, char *out, size_t cap)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(out, cap, "%llx-%x", (unsigned long long)ts.tv_sec * 1000000000ull +
					      (unsigned long long)ts.tv_nsec,
		 ++c->push_seq);
}

/* The configuration publish-options ask for (§7.1.5), checked against the
 * node's when it exists. */
static enum pep_err publish_options(const struct pep_op *o, int exists, struct store_pep_config *cfg)
{
	int count;
	xmlNodePtr po = iq_child(o->r->payload, "publish-options", &count);
	xmlNodePtr x = po ? pep_config_form_of(po) : NULL;
	if (!x)
		return 0;
	struct store_pep_config want = *cfg;
	unsigned seen = 0;
	int rc = pep_config_read(x, PEP_FORM_PUBLISH_OPTIONS, 1, &want, &seen);
	if (rc == -EBADMSG)
		return PEP_INVALID_PAYLOAD;
	if (rc || (exists && !pep_config_same(cfg, &want, seen)))
		return PEP_PRECONDITION;
	*cfg = want;
	return PEP_OK;
}

/* Room for one more node of the account (XEP-0060 §7.1.3: the service
 * may limit them). */
static enum pep_err room_for_node(const struct pep_op *o)
{
	int n = store_pep_node_count(o->r->c->store, o->owner);
	return n < 0 ? PEP_INTERNAL : n >= PEP_NODES_MAX ? PEP_MAX_NODES : PEP_OK;
}

/* Room for the item in what the account keeps (PEP_ACCOUNT_MAX). */
static enum pep_err room_for_item(const struct pep_op *o, const char *id, const char *xml)
{
	int64_t n = store_pep_bytes(o->r->c->store, o->owner, o->node, id);
	return n < 0 ? PEP_INTERNAL
	       : (uint64_t)n + strlen(xml) > PEP_ACCOUNT_MAX ? PEP_QUOTA : PEP_OK;
}

/* Creates the node when missing (auto-create, XEP-0163 §3), then stores
 * the item, in one transaction. */
static enum pep_err store_item(const struct pep_op *o, const char *id, const char *xml,
			       struct store_pep_config *cfg)
{
	struct store *st = o->r->c->store;
	int rc = store_pep_node_get(st, o->owner, o->node, cfg);
	int exists = !rc;
	enum pep_err e;
	if (rc && rc != -ENOENT)
		return PEP_INTERNAL;
	if (!exists)
		*cfg = pep_config_default;
	if ((e = publish_options(o, exists, cfg)) || (!exists && (e = room_for_node(o))) ||
	    (e = room_for_item(o, id, xml)))
		return e;
	if (store_begin(st))
		return PEP_INTERNAL;
	if ((!exists && store_pep_node_put(st, o->owner, o->node, cfg)) ||
	    store_pep_item_put(st, o->owner, o->node, id, xml, cfg->max_items)) {
		store_rollback(st);
		return PEP_INTERNAL;
	}
	return store_commit(st) ? PEP_INTERNAL : PEP_OK;
}

static void publish_result(const struct pep_op *o, const char *id)
{
	struct buf x = {0};
	if (buf_append_str(&x, "<pubsub xmlns=\"" PUBSUB_NS "\"><publish node=\"") ||
	    buf_append_xml_escaped(&x, o->node, strlen(o->node)) ||
	    buf_append_str(&x, "\"><item id=\"") || buf_append_xml_escaped(&x, id, strlen(id)) ||
	    buf_append_str(&x, "\"/></publish></pubsub>"))
		err(o, ROUTER_ERR_INTERNAL);
	else
		iq_result(o->r, buf_head(&x), buf_avail(&x));
	buf_free(&x);
}

/* XEP-0060 §7.1: one item with one payload element. */
static void publish(const struct pep_op *o)
{
	int n;
	xmlNodePtr item = iq_child(o->el, "item", &n), payload = NULL;
	if (n != 1)
		return pep_error(o, n ? PEP_INVALID_PAYLOAD : PEP_ITEM_REQUIRED);
	if (!(payload = iq_child(item, NULL, &n)) || n != 1)
		return pep_error(o, PEP_INVALID_PAYLOAD);
	char gen[48], *xml = NULL;
	xmlChar *given = xmlGetProp(item, (const xmlChar *)"id");
	const char *id = given && *given ? (const char *)given : gen;
	if (id == gen)
		new_item_id(o->r->c, gen, sizeof gen);
	int rc = strlen(id) > PEP_NAME_MAX ? -ENAMETOOLONG : iq_dump(payload, PEP_PAYLOAD_MAX, &xml);
	struct store_pep_config cfg;
	struct buf ev = {0};
	enum pep_err e = PEP_OK;
	if (rc == -EMSGSIZE)
		pep_error(o, PEP_PAYLOAD_TOO_BIG);
	else if (rc)
		err(o, rc == -ENAMETOOLONG ? ROUTER_ERR_NOT_ACCEPTABLE : ROUTER_ERR_INTERNAL);
	else if ((e = store_item(o, id, xml, &cfg)))
		pep_error(o, e);
	else {
		o->r->c->stats.pep_published++;
		publish_result(o, id);
		if (!items_xml(&ev, o->node, id, xml)) /* §7.1.2.1: with payload */
			notify(o->r->c, o->r->origin->user, o->node, cfg.access, &ev);
	}
	buf_free(&ev);
	free(xml);
	xmlFree(given);
}

/* The node's configuration; when it has none, item-not-found is answered
 * (XEP-0060 §6.5.9.11, §7.2.3.3, §8.4.3.2) and -1 returned. */
static int node_cfg(const struct pep_op *o, struct store_pep_config *cfg)
{
	int rc = store_pep_node_get(o->r->c->store, o->owner, o->node, cfg);
	if (rc)
		err(o, rc == -ENOENT ? ROUTER_ERR_ITEM_NOT_FOUND : ROUTER_ERR_INTERNAL);
	return rc ? -1 : 0;
}

/* XEP-0060 §6.5.9: who may read a node; PEP_OK when the requester may. */
static enum pep_err may_read(const struct pep_op *o, const struct store_pep_config *cfg)
{
	if (!strcmp(o->owner, o->r->origin->user->bare) || cfg->access == STORE_PEP_OPEN)
		return PEP_OK;
	if (cfg->access == STORE_PEP_WHITELIST)
		return PEP_CLOSED_NODE;
	int rc = iq_may_see(o->r->c, o->owner, o->r->origin); /* XEP-0163 §4.1 */
	return rc < 0 ? PEP_INTERNAL : rc ? PEP_OK : PEP_PRESENCE_REQUIRED;
}

static int add_item(void *ctx, const char *id, const char *xml)
{
	struct buf *x = ctx;
	return buf_append_str(x, "<item id=\"") || buf_append_xml_escaped(x, id, strlen(id)) ||
			       buf_append_str(x, "\">") || buf_append_str(x, xml) ||
			       buf_append_str(x, "</item>")
		       ? -ENOMEM
		       : 0;
}

/* §6.5.7 max_items: the newest n; absent, all the node keeps. */
static int max_asked(xmlNodePtr el, unsigned *max)
{
	xmlChar *m = xmlGetProp(el, (const xmlChar *)"max_items");
	char *end = NULL;
	long n = m ? strtol((const char *)m, &end, 10) : 0;
	int ok = !m || (*m && !*end && n >= 1);
	if (m && ok && n < *max)
		*max = (unsigned)n;
	xmlFree(m);
	return ok ? 0 : -EINVAL;
}

/* §6.5: all items (the newest max), or those asked for by id (§6.5.8);
 * either way no more than PEP_RESULT_MAX bytes of them. */
static int load_items(const struct pep_op *o, unsigned max, struct buf *x)
{
	struct store *st = o->r->c->store;
	size_t start = buf_avail(x);
	int asked = 0, rc = 0;
	for (xmlNodePtr k = o->el->children; k && !rc; k = k->next) {
		if (!is_el(k, "item"))
			continue;
		xmlChar *id = xmlGetProp(k, (const xmlChar *)"id");
		if (id && *id && ++asked && buf_avail(x) - start < PEP_RESULT_MAX)
			rc = store_pep_item_load(st, o->owner, o->node, (const char *)id, 0, 0,
						 add_item, x);
		xmlFree(id);
	}
	return rc || asked ? rc
			   : store_pep_item_load(st, o->owner, o->node, NULL, max, PEP_RESULT_MAX,
						 add_item, x);
}

static void items_get(const struct pep_op *o)
{
	struct store_pep_config cfg;
	if (node_cfg(o, &cfg))
		return;
	enum pep_err e = may_read(o, &cfg);
	if (e)
		return pep_error(o, e);
	unsigned max = cfg.max_items;
	if (max_asked(o->el, &max))
		return err(o, ROUTER_ERR_BAD_REQUEST);
	struct buf x = {0};
	int rc = buf_append_str(&x, "<pubsub xmlns=\"" PUBSUB_NS "\"><items node=\"") ||
		 buf_append_xml_escaped(&x, o->node, strlen(o->node)) || buf_append_str(&x, "\">");
	rc = rc || load_items(o, max, &x) || buf_append_str(&x, "</items></pubsub>");
	if (rc)
		err(o, ROUTER_ERR_INTERNAL);
	else
		iq_result(o->r, buf_head(&x), buf_avail(&x));
	buf_free(&x);
}

/* A boolean attribute (XEP-0060 §7.2.2.1's notify): 1, 0, or dflt when absent. */
static int attr_bool(xmlNodePtr el, const char *name, int dflt)
{
	xmlChar *v = xmlGetProp(el, (const xmlChar *)name);
	int yes = v ? pep_config_bool((const char *)v) == 1 : dflt;
	xmlFree(v);
	return yes;
}

/* §7.2: one item by id, notified with <retract/>. */
static void retract(const struct pep_op *o)
{
	int n;
	xmlNodePtr item = iq_child(o->el, "item", &n);
	xmlChar *id = item && n == 1 ? xmlGetProp(item, (const xmlChar *)"id") : NULL;
	struct store_pep_config cfg;
	struct buf ev = {0};
	int rc;
	if (!id || !*id)
		pep_error(o, PEP_ITEM_REQUIRED);
	else if (node_cfg(o, &cfg))
		;
	else if ((rc = store_pep_item_del(o->r->c->store, o->owner, o->node, (const char *)id)))
		err(o, rc == -ENOENT ? ROUTER_ERR_ITEM_NOT_FOUND : ROUTER_ERR_INTERNAL);
	else {
		iq_result(o->r, NULL, 0);
		/* §7.2.2.1: as the publisher asks; when it does not say, as the
		 * node's pubsub#notify_retract says */
		if (attr_bool(o->el, "notify", cfg.notify_retract) &&
		    !items_xml(&ev, o->node, (const char *)id, NULL))
			notify(o->r->c, o->r->origin->user, o->node, cfg.access, &ev);
	}
	buf_free(&ev);
	xmlFree(id);
}

/* §8.1: a node of the given name, configured by an optional form. */
static void create(const struct pep_op *o)
{
	struct store_pep_config cfg;
	int n, rc = store_pep_node_get(o->r->c->store, o->owner, o->node, &cfg);
	if (rc != -ENOENT)
		return err(o, rc ? ROUTER_ERR_INTERNAL : ROUTER_ERR_CONFLICT); /* §8.1.3.5 */
	cfg = pep_config_default;
	unsigned seen = 0;
	xmlNodePtr conf = iq_child(o->r->payload, "configure", &n);
	xmlNodePtr x = conf ? pep_config_form_of(conf) : NULL;
	enum pep_err e;
	if (x && pep_config_read(x, PEP_FORM_NODE_CONFIG, 0, &cfg, &seen))
		err(o, ROUTER_ERR_NOT_ACCEPTABLE);
	else if ((e = room_for_node(o)))
		pep_error(o, e);
	else if (store_pep_node_put(o->r->c->store, o->owner, o->node, &cfg))
		err(o, ROUTER_ERR_INTERNAL);
	else
		iq_result(o->r, NULL, 0);
}

/* §8.4 (delete) and §8.5 (purge), each notified. */
static void delete_node(const struct pep_op *o)
{
	struct store_pep_config cfg;
	if (node_cfg(o, &cfg))
		return;
	if (store_pep_node_del(o->r->c->store, o->owner, o->node))
		return err(o, ROUTER_ERR_INTERNAL);
	iq_result(o->r, NULL, 0);
	notify_node(o->r->c, o, "delete", cfg.access);
}

static void purge(const struct pep_op *o)
{
	struct store_pep_config cfg;
	if (node_cfg(o, &cfg))
		return;
	if (store_pep_item_purge(o->r->c->store, o->owner, o->node))
		return err(o, ROUTER_ERR_INTERNAL);
	iq_result(o->r, NULL, 0);
	notify_node(o->r->c, o, "purge", cfg.access);
}

static void configure_get(const struct pep_op *o, const struct store_pep_config *cfg)
{
	struct buf x = {0};
	int rc = buf_append_str(&x, "<pubsub xmlns=\"" PUBSUB_OWNER_NS "\"><configure node=\"") ||
		 buf_append_xml_escaped(&x, o->node, strlen(o->node)) || buf_append_str(&x, "\">");
	rc = rc || pep_config_write(&x, cfg) || buf_append_str(&x, "</configure></pubsub>");
	if (rc)
		err(o, ROUTER_ERR_INTERNAL);
	else
		iq_result(o->r, buf_head(&x), buf_avail(&x));
	buf_free(&x);
}

/* §8.2: the form asked for, or submitted (fields this service does not
 * have are ignored; a value it cannot honour is not-acceptable). */
static void configure(const struct pep_op *o)
{
	struct store_pep_config cfg;
	unsigned seen = 0;
	if (node_cfg(o, &cfg))
		return;
	if (o->r->s->type == STANZA_T_GET)
		return configure_get(o, &cfg);
	xmlNodePtr x = pep_config_form_of(o->el);
	if (!x)
		err(o, ROUTER_ERR_BAD_REQUEST);
	else if (pep_config_read(x, PEP_FORM_NODE_CONFIG, 0, &cfg, &seen))
		err(o, ROUTER_ERR_NOT_ACCEPTABLE);
	else if (store_pep_node_put(o->r->c->store, o->owner, o->node, &cfg))
		err(o, ROUTER_ERR_INTERNAL);
	else
		iq_result(o->r, NULL, 0);
}

static const struct pep_opdef {
	const char *name;
	uint8_t owner_ns, get, set, others; /* others: another account may ask */
	void (*fn)(const struct pep_op *o);
} pep_ops[] = {
	{"items", 0, 1, 0, 1, items_get},    {"publish", 0, 0, 1, 0, publish},
	{"retract", 0, 0, 1, 0, retract},    {"create", 0, 0, 1, 0, create},
	{"delete", 1, 0, 1, 0, delete_node}, {"purge", 1, 0, 1, 0, purge},
	{"configure", 1, 1, 1, 0, configure},
};

static const struct pep_opdef *opdef(xmlNodePtr el, int owner_ns)
{
	for (size_t i = 0; i < sizeof pep_ops / sizeof pep_ops[0]; i++)
		if (pep_ops[i].owner_ns == owner_ns && is_el(el, pep_ops[i].name))
			return &pep_ops[i];
	return NULL;
}

/* XEP-0060 §6, §8: what PEP needs none of (interest comes from caps), with
 * the feature its <unsupported/> names. */
static const char *unsupported_feature(xmlNodePtr el)
{
	static const char *const map[][2] = {
		{"subscribe", "subscribe"},
		{"unsubscribe", "subscribe"},
		{"subscriptions", "retrieve-subscriptions"},
		{"affiliations", "retrieve-affiliations"},
		{"options", "subscription-options"},
		{"default", "retrieve-default"},
	};
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (is_el(el, map[i][0]))
			return map[i][1];
	return NULL;
}

static void unsupported(const struct pep_op *o)
{
	char app[128];
	const char *f = unsupported_feature(o->el);
	if (f)
		snprintf(app, sizeof app, "<unsupported xmlns=\"" PUBSUB_NS "#errors\" feature=\"%s\"/>",
			 f);
	router_error_app(o->r->c, o->r->s, ROUTER_ERR_FEATURE_NOT_IMPLEMENTED, f ? app : NULL);
}

static void dispatch(const struct pep_op *o, int owner_ns)
{
	const struct pep_opdef *d = opdef(o->el, owner_ns);
	int get = o->r->s->type == STANZA_T_GET;
	if (!d)
		unsupported(o);
	else if (!(get ? d->get : d->set))
		err(o, ROUTER_ERR_BAD_REQUEST);
	else if (o->r->target == IQ_TO_OTHER && !d->others)
		err(o, ROUTER_ERR_FORBIDDEN); /* XEP-0060 §7.1.3.1: not the owner */
	else if (!o->node || !*o->node)
		pep_error(o, PEP_NODEID_REQUIRED);
	else if (strlen(o->node) > PEP_NAME_MAX)
		err(o, ROUTER_ERR_NOT_ACCEPTABLE);
	else
		d->fn(o);
}

int pep_iq(const struct iq_req *r)
{
	int owner_ns = iq_is(r->payload, PUBSUB_OWNER_NS, "pubsub");
	if (!owner_ns && !iq_is(r->payload, PUBSUB_NS, "pubsub"))
		return 0;
	if (r->target == IQ_TO_SERVER && r->s->to.len)
		return 0; /* the domain is no pubsub service: service-unavailable */
	int n;
	struct pep_op o = {.r = r, .el = iq_child(r->payload, NULL, &n)};
	if (!o.el || iq_account(r, o.owner, sizeof o.owner)) {
		err(&o, ROUTER_ERR_BAD_REQUEST);
		return 1;
	}
	o.node = (char *)xmlGetProp(o.el, (const xmlChar *)"node");
	dispatch(&o, owner_ns);
	xmlFree(o.node);
	return 1;
}

struct disco_ctx {
	struct buf *x;
	const char *owner;
	int all; /* the owner asks: whitelisted nodes too */
};

static int disco_item(void *arg, const char *node, uint8_t access)
{
	struct disco_ctx *k = arg;
	if (!k->all && access == STORE_PEP_WHITELIST)
		return 0;
	return buf_append_str(k->x, "<item jid=\"") ||
			       buf_append_xml_escaped(k->x, k->owner, strlen(k->owner)) ||
			       buf_append_str(k->x, "\" node=\"") ||
			       buf_append_xml_escaped(k->x, node, strlen(node)) ||
			       buf_append_str(k->x, "\"/>")
		       ? -ENOMEM
		       : 0;
}

void pep_disco_items(const struct iq_req *r)
{
	char owner[CORE_JID_MAX];
	struct buf x = {0};
	struct disco_ctx k = {&x, owner, r->target != IQ_TO_OTHER};
	int rc = iq_account(r, owner, sizeof owner) ||
		 buf_append_str(&x, "<query xmlns=\"" DISCO_ITEMS_NS "\">") ||
		 store_pep_node_list(r->c->store, owner, disco_item, &k) ||
		 buf_append_str(&x, "</query>");
	if (rc)
		router_error(r->c, r->s, ROUTER_ERR_INTERNAL);
	else
		iq_result(r, buf_head(&x), buf_avail(&x));
	buf_free(&x);
}

struct last_ctx {
	struct core *c;
	struct session *s;
	const char *to;
	size_t bytes; /* of payload sent so far, up to PEP_LAST_MAX */
	char owner[CORE_JID_MAX]; /* the owner of the rows before, and */
	int blocked;		  /* whether it and s->user block each other */
};

/* Rows come grouped by owner: one blocklist look-up each (XEP-0191 §3.3),
 * which for an offline contact is a store read. */
static int blocked(struct last_ctx *l, const char *owner)
{
	struct core *c = l->c;
	struct core_user *u = l->s->user;
	if (!strcmp(owner, l->owner))
		return l->blocked;
	snprintf(l->owner, sizeof l->owner, "%s", owner);
	l->blocked = strcmp(owner, u->bare) &&
		     (blocking_blocks(c, u, core_wstr(NULL), core_wstr(owner)) ||
		      blocking_blocks(c, session_user(c, owner, strlen(owner)), core_wstr(owner),
				      core_wstr(u->bare)));
	return l->blocked;
}

/* One last item the session wants, unless either side blocks the other
 * (XEP-0191 §3.3); only then is its payload read. */
static int send_last_one(void *arg, const char *owner, const char *node, const char *id,
			 int64_t item)
{
	struct last_ctx *l = arg;
	struct core *c = l->c;
	struct session *s = l->s;
	char *xml = NULL;
	if (!caps_wants(s, node) || blocked(l, owner) || store_pep_item_xml(c->store, item, &xml))
		return 0;
	if ((l->bytes += strlen(xml)) > PEP_LAST_MAX) {
		log_debug("pep: last items for %s over %u bytes; the rest not sent", l->to,
			  PEP_LAST_MAX);
		free(xml);
		return 1;
	}
	struct buf ev = {0}, x = {0};
	if (!items_xml(&ev, node, id, xml) && !event_message(&x, buf_head(&ev), buf_avail(&ev))) {
		struct wire_stanza st = {.kind = STANZA_MESSAGE, .type = STANZA_T_HEADLINE,
					 .from = core_wstr(owner), .to = core_wstr(l->to),
					 .xml = {buf_head(&x), (uint32_t)buf_avail(&x)}};
		router_deliver(c, s, &st);
	}
	buf_free(&ev);
	buf_free(&x);
	free(xml);
	return 0;
}

void pep_send_subscribed(struct core *c, struct core_user *owner, struct core_user *subscriber)
{
	char to[CORE_JID_MAX];
	for (struct session *s = subscriber->sessions; s; s = s->user_next) {
		if (!(s->flags & SESSION_AVAILABLE) || !caps_interested(s) ||
		    session_full_jid(c, s, to, sizeof to) < 0)
			continue;
		struct last_ctx l = {.c = c, .s = s, .to = to};
		if (store_pep_last_of(c->store, owner->bare, send_last_one, &l))
			log_warn("pep: last items of %s for %s not sent", owner->bare, to);
	}
}

void pep_send_last(struct core *c, struct session *s)
{
	char to[CORE_JID_MAX];
	/* §4.3.2: once per available period; a later presence, even with
	 * other caps, MUST NOT send them again. */
	if ((s->flags & SESSION_PEP_LAST) || !caps_interested(s) ||
	    session_full_jid(c, s, to, sizeof to) < 0)
		return;
	s->flags |= SESSION_PEP_LAST;
	struct last_ctx l = {.c = c, .s = s, .to = to};
	if (store_pep_last(c->store, s->user->bare, send_last_one, &l))
		log_warn("pep: last items for %s not sent", to);
}
