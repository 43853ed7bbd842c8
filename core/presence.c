/* presence: broadcast of a user's availability to subscribers and own
 * resources, the internal probe of contacts at login, and delivery of what
 * waited while the user was offline (RFC 6121 §4, §3.1.3, §8.5.2.1.1). */
#include "presence.h"

#include <errno.h>
#include <libxml/parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blocking.h"
#include "caps.h"
#include "fanout.h"
#include "last.h"
#include "lib/log.h"
#include "pep.h"
#include "router.h"
#include "store.h"
#include "subscribe.h"

static const char presence_unavailable_xml[] = "<presence type=\"unavailable\"/>";

/* RFC 6121 §4.7.2.3: an integer -128..127, 0 when absent or invalid. */
static int8_t read_priority(xmlNodePtr n)
{
	xmlChar *t = xmlNodeGetContent(n);
	char *end;
	long v = t ? strtol((const char *)t, &end, 10) : 0;
	int ok = t && end != (char *)t && !*end && v >= -128 && v <= 127;
	xmlFree(t);
	return (int8_t)(ok ? v : 0);
}

static int is_child(xmlNodePtr n, const char *name, const char *ns, int ns_optional)
{
	return n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name) &&
	       (n->ns ? !strcmp((const char *)n->ns->href, ns) : ns_optional);
}

/* XEP-0115 §4: the <c/> of an available presence goes to caps.c. */
static int read_caps(struct core *c, struct session *s, xmlNodePtr n)
{
	xmlChar *h = n ? xmlGetProp(n, (const xmlChar *)"hash") : NULL;
	xmlChar *node = n ? xmlGetProp(n, (const xmlChar *)"node") : NULL;
	xmlChar *ver = n ? xmlGetProp(n, (const xmlChar *)"ver") : NULL;
	int learnt = caps_presence(c, s, (const char *)h, (const char *)node, (const char *)ver);
	xmlFree(h);
	xmlFree(node);
	xmlFree(ver);
	return learnt;
}

/* What the core keeps of an available presence: the priority, and the
 * client's entity caps.  Returns caps_presence()'s answer. */
static int read_presence(struct core *c, struct session *s, struct wire_str xml)
{
	xmlDocPtr d = xmlReadMemory(xml.p, (int)xml.len, NULL, NULL,
				    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	xmlNodePtr root = d ? xmlDocGetRootElement(d) : NULL, caps = NULL;
	int prio_seen = 0;
	s->priority = 0;
	for (xmlNodePtr n = root ? root->children : NULL; n; n = n->next) {
		if (!prio_seen && is_child(n, "priority", "jabber:client", 1)) {
			s->priority = read_priority(n);
			prio_seen = 1;
		} else if (!caps && is_child(n, "c", CAPS_NS, 0))
			caps = n;
	}
	int learnt = read_caps(c, s, caps);
	xmlFreeDoc(d);
	return learnt;
}

void presence_to_available(struct core *c, struct core_user *u, const struct wire_stanza *st,
			   const struct session *skip)
{
	char to[CORE_JID_MAX];
	struct wire_stanza out = *st;
	if (blocking_blocks(c, u, core_wstr(NULL), st->from))
		return; /* XEP-0191 §3.3: no presence from a blocked entity */
	for (struct session *t = u->sessions; t; t = t->user_next) {
		if (!(t->flags & SESSION_AVAILABLE) || t == skip)
			continue;
		if (!st->to.len) {
			/* Addressed to the receiving resource itself. */
			if (session_full_jid(c, t, to, sizeof to) < 0)
				continue;
			out.to = core_wstr(to);
		}
		if (c->mcast == st)
			router_mcast_add(c, t, st->to.len ? NULL : to);
		else
			router_deliver(c, t, &out);
	}
}

/* Current presence of each available resource of from to one session, or
 * to all available resources of to (only == NULL). */
static void send_current(struct core *c, struct core_user *from, struct core_user *to,
			 struct session *only, int unavail)
{
	char fj[CORE_JID_MAX], tj[CORE_JID_MAX];
	if (only && session_full_jid(c, only, tj, sizeof tj) < 0)
		return;
	if (only && only->user != from &&
	    (session_bare_jid(c, from, fj, sizeof fj) < 0 ||
	     blocking_blocks(c, only->user, core_wstr(NULL), core_wstr(fj))))
		return; /* XEP-0191 §3.3: only->user blocks from */
	for (struct session *f = from->sessions; f; f = f->user_next) {
		if (!(f->flags & SESSION_AVAILABLE) || f == only ||
		    session_full_jid(c, f, fj, sizeof fj) < 0)
			continue;
		struct wire_stanza st = {
			.kind = STANZA_PRESENCE,
			.type = unavail ? STANZA_T_UNAVAILABLE : STANZA_T_NONE,
			.from = core_wstr(fj),
			.to = core_wstr(only ? tj : NULL),
			.xml = unavail ? core_wstr(presence_unavailable_xml)
				       : (struct wire_str){f->presence, f->presence_len},
		};
		if (only)
			router_deliver(c, only, &st);
		else
			presence_to_available(c, to, &st, NULL);
	}
}

void presence_send_current(struct core *c, struct core_user *from, struct core_user *to,
			   int unavail)
{
	send_current(c, from, to, NULL, unavail);
}

/* The online local user behind a JID, or NULL. */
static struct core_user *contact_user_view(struct core *c, const struct jid_view *v)
{
	if (!v->has_local || !core_is_local_domain(c, v->domain))
		return NULL;
	struct wire_str bare = core_jid_bare(v);
	return session_user(c, bare.p, bare.len);
}

/* The online local user behind a roster contact (a bare JID), or NULL. */
static struct core_user *contact_user(struct core *c, const char *contact)
{
	struct jid_view v;
	core_jid_split(core_wstr(contact), &v);
	return v.has_resource ? NULL : contact_user_view(c, &v);
}

/* RFC 6121 §4.2.2 / §4.4.2 / §4.5.2: to every contact with a subscription
 * from the user and to the user's available resources. */
static void broadcast(struct core *c, struct session *s, uint8_t type, struct wire_str xml,
		      struct wire_str id, const struct session *skip)
{
	char from[CORE_JID_MAX];
	if (session_full_jid(c, s, from, sizeof from) < 0)
		return;
	struct wire_stanza b = {.kind = STANZA_PRESENCE, .type = type, .id = id,
				.from = core_wstr(from), .xml = xml};
	struct fanout *f = fanout_get(c, s->user);
	router_mcast_begin(c, &b);
	for (size_t i = 0; f && i < f->n; i++) {
		struct core_user *cu = contact_user(c, f->contact[i]);
		if (cu && !blocking_blocks(c, s->user, core_wstr(NULL), core_wstr(f->contact[i])))
			presence_to_available(c, cu, &b, NULL);
	}
	if (f)
		fanout_put(s->user, f);
	presence_to_available(c, s->user, &b, skip);
	router_mcast_end(c);
}

/* XEP-0203: the stamp tells the client the message waited; inserted before
 * the root's end tag (a '<' cannot occur inside attribute values). */
static int offline_xml(const char *domain, struct buf *b, const struct store_offline *m)
{
	char stamp[32];
	struct tm tm;
	time_t t = (time_t)m->stamp;
	gmtime_r(&t, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
	size_t n = strlen(m->xml), cut = n;
	const char *close = NULL;
	for (const char *p = m->xml; (p = strstr(p, "</")); p++)
		close = p;
	if (close)
		cut = (size_t)(close - m->xml);
	else if (n >= 2 && !strcmp(m->xml + n - 2, "/>"))
		cut = n - 2;
	else
		return buf_append(b, m->xml, n);
	if (buf_append(b, m->xml, cut) || (!close && buf_append_str(b, ">")) ||
	    buf_append_str(b, "<delay xmlns=\"urn:xmpp:delay\" from=\"") ||
	    buf_append_xml_escaped(b, domain, strlen(domain)) ||
	    buf_append_str(b, "\" stamp=\"") || buf_append_str(b, stamp) ||
	    buf_append_str(b, "\"/>"))
		return -ENOMEM;
	if (close)
		return buf_append(b, m->xml + cut, n - cut);
	return buf_append_str(b, "</message>");
}

/* RFC 6121 §8.5.2.1.1 / XEP-0160: in order, then deleted. */
static void deliver_offline(struct core *c, struct session *s)
{
	struct store_offline *msgs = NULL;
	size_t n = 0;
	char bare[CORE_JID_MAX];
	if (session_bare_jid(c, s->user, bare, sizeof bare) < 0 ||
	    store_offline_load(c->store, s->user->bare, &msgs, &n) || !n) {
		store_offline_free(msgs, n);
		return;
	}
	struct buf x = {0};
	int64_t last = 0;
	for (size_t i = 0; i < n; i++) {
		buf_reset(&x);
		/* XEP-0203 §3: from is the entity that delayed it, the
		 * recipient's own server (its hosted domain). */
		if (offline_xml(strchr(bare, '@') + 1, &x, &msgs[i]))
			break;
		if (blocking_blocks(c, s->user, core_wstr(NULL), core_wstr(msgs[i].from))) {
			last = msgs[i].id; /* XEP-0191 §3.3: blocked since it was stored */
			continue;
		}
		if (!buf_avail(&x)) {
			/* A stored message that cannot be a stanza would block the queue. */
			log_warn("offline message %lld of %s is empty; dropped", (long long)msgs[i].id,
				 bare);
			last = msgs[i].id;
			continue;
		}
		struct wire_stanza st = {
			.kind = STANZA_MESSAGE, .type = msgs[i].type,
			.id = core_wstr(msgs[i].stanza_id), .from = core_wstr(msgs[i].from),
			.to = core_wstr(bare), .xml = {buf_head(&x), (uint32_t)buf_avail(&x)},
		};
		if (router_deliver(c, s, &st))
			break;
		last = msgs[i].id;
	}
	buf_free(&x);
	if (last && store_offline_del(c->store, s->user->bare, last))
		log_warn("offline messages of %s delivered but not deleted", bare);
	store_offline_free(msgs, n);
}

/* First available presence: the internal probe of contacts (RFC 6121
 * §4.3.2: all contacts are local), the user's other resources, then
 * subscription requests that waited (§3.1.3). */
static void initial_extras(struct core *c, struct session *s)
{
	char bare[CORE_JID_MAX];
	struct store_item *items = NULL;
	size_t n = 0;
	if (session_bare_jid(c, s->user, bare, sizeof bare) < 0 ||
	    store_roster_load(c->store, s->user->bare, &items, &n))
		return;
	for (size_t i = 0; i < n; i++) {
		struct core_user *cu;
		if ((items[i].sub & STORE_SUB_TO) && (cu = contact_user(c, items[i].contact)))
			send_current(c, cu, NULL, s, 0);
	}
	send_current(c, s->user, NULL, s, 0);
	for (size_t i = 0; i < n; i++) {
		if (!items[i].pending_in ||
		    blocking_blocks(c, s->user, core_wstr(NULL), core_wstr(items[i].contact)))
			continue;
		struct wire_stanza st = {
			.kind = STANZA_PRESENCE, .type = STANZA_T_SUBSCRIBE,
			.from = core_wstr(items[i].contact), .to = core_wstr(bare),
			.xml = core_wstr("<presence type=\"subscribe\"/>"),
		};
		router_deliver(c, s, &st);
	}
	store_items_free(items, n);
}

static void available(struct core *c, struct session *s, const struct wire_stanza *st)
{
	int initial = !(s->flags & SESSION_AVAILABLE);
	char *copy = wire_strdup(st->xml); /* owned by the session until replaced */
	if (!copy)
		return;
	free(s->presence);
	s->presence = copy;
	s->presence_len = st->xml.len;
	int learnt = read_presence(c, s, st->xml);
	s->flags |= SESSION_AVAILABLE;
	broadcast(c, s, STANZA_T_NONE, st->xml, st->id, NULL);
	if (initial) {
		initial_extras(c, s);
		if (s->priority >= 0)
			deliver_offline(c, s);
	}
	/* XEP-0163 §4.3.2: the last items, once its interests are known */
	if (initial || learnt)
		pep_send_last(c, s);
}

static void directed_flush(struct core *c, struct session *s, int broadcast_done);

static void unavailable(struct core *c, struct session *s, struct wire_str xml,
			struct wire_str id, const struct session *skip)
{
	int was_available = s->flags & SESSION_AVAILABLE;
	if (was_available) {
		broadcast(c, s, STANZA_T_UNAVAILABLE, xml, id, skip);
		s->flags &= (uint8_t)~(SESSION_AVAILABLE | SESSION_PEP_LAST);
		free(s->presence);
		s->presence = NULL;
		s->presence_len = 0;
	}
	directed_flush(c, s, was_available);
}

/* XEP-0012 §3 reports the status of the last unavailable presence: one that
 * carries a <status/> is kept until the session ends or is available again
 * (sessions that stay connected while unavailable are few). */
static void keep_status(struct session *s, struct wire_str xml)
{
	char *copy = memmem(xml.p, xml.len, "<status", 7) ? wire_strdup(xml) : NULL;
	free(s->presence);
	s->presence = copy;
	s->presence_len = copy ? xml.len : 0;
}

void presence_from_client(struct core *c, struct session *s, const struct wire_stanza *st)
{
	if (st->type == STANZA_T_NONE) {
		available(c, s, st);
	} else if (st->type == STANZA_T_UNAVAILABLE) {
		unavailable(c, s, st->xml, st->id, NULL);
		keep_status(s, st->xml);
	} else
		log_debug("presence of type %u without 'to' ignored", st->type);
}

void presence_session_end(struct core *c, struct session *s)
{
	last_session_end(c, s); /* before the presence it sent is dropped */
	unavailable(c, s, core_wstr(presence_unavailable_xml), core_wstr(NULL), s);
}

/* RFC 6121 §4.3: a client's probe is answered only when the prober is
 * subscribed to the target's presence (or is the same account). */
static void probe(struct core *c, struct session *origin, struct core_user *tu)
{
	if (tu != origin->user) {
		char bare[CORE_JID_MAX];
		struct store_item it;
		if (session_bare_jid(c, origin->user, bare, sizeof bare) < 0 ||
		    store_roster_get(c->store, tu->bare, bare, &it))
			return;
		int ok = it.sub & STORE_SUB_FROM;
		store_item_free(&it);
		if (!ok)
			return;
	}
	send_current(c, tu, NULL, origin, 0);
}

/* Directed presence (§4.6) to a local user: one resource for a full JID,
 * every available resource for a bare one.  Returns whether it went out. */
static int deliver_local(struct core *c, struct core_user *u, const struct wire_stanza *st,
			 const struct jid_view *to)
{
	if (blocking_blocks(c, u, core_wstr(NULL), st->from))
		return 0; /* XEP-0191 §3.3: dropped, no error */
	if (to->has_resource) {
		struct session *t = session_by_resource(u, to->resource.p, to->resource.len);
		if (t)
			router_deliver(c, t, st);
		return t != NULL;
	}
	if (st->type == STANZA_T_ERROR)
		return 0;
	presence_to_available(c, u, st, NULL);
	return 1;
}

static struct directed **directed_find(struct session *s, struct wire_str jid)
{
	struct directed **pp = &s->directed;
	while (*pp && !(strlen((*pp)->jid) == jid.len && !memcmp((*pp)->jid, jid.p, jid.len)))
		pp = &(*pp)->next;
	return pp;
}

/* §4.6.3: remember who got directed availability, so that the end of the
 * session tells them too. */
static void directed_note(struct session *s, struct wire_str jid)
{
	if (*directed_find(s, jid))
		return;
	if (s->ndirected >= SESSION_DIRECTED_MAX) {
		log_debug("directed presence of session %u: %u entities tracked, no more", s->sid,
			  s->ndirected);
		return;
	}
	struct directed *d = malloc(sizeof *d + jid.len + 1); /* freed by directed_flush */
	if (!d)
		return;
	memcpy(d->jid, jid.p, jid.len);
	d->jid[jid.len] = '\0';
	d->next = s->directed;
	s->directed = d;
	s->ndirected++;
}

/* Directed unavailable presence: that entity has been told already. */
static void directed_forget(struct session *s, struct wire_str jid)
{
	struct directed **pp = directed_find(s, jid), *d = *pp;
	if (!d)
		return;
	*pp = d->next;
	free(d);
	s->ndirected--;
}

/* Whether the contact (an address of a local user) got the user's broadcast:
 * a subscription "from" in the user's roster (§4.5.2). */
static int got_broadcast(struct core *c, struct core_user *u, const struct jid_view *v)
{
	char bare[CORE_JID_MAX];
	struct store_item it;
	struct wire_str b = core_jid_bare(v);
	if (b.len >= sizeof bare)
		return 0;
	memcpy(bare, b.p, b.len);
	bare[b.len] = '\0';
	if (store_roster_get(c->store, u->bare, bare, &it))
		return 0;
	int from = it.sub & STORE_SUB_FROM;
	store_item_free(&it);
	return from;
}

/* §4.6.3: the session went unavailable (or away): every entity that got
 * directed availability, did not get it withdrawn and was not told by the
 * broadcast gets unavailable presence from the full JID. */
static void directed_flush(struct core *c, struct session *s, int broadcast_done)
{
	char from[CORE_JID_MAX];
	int have_from = session_full_jid(c, s, from, sizeof from) >= 0;
	while (s->directed) {
		struct directed *d = s->directed;
		s->directed = d->next;
		struct wire_stanza st = {
			.kind = STANZA_PRESENCE, .type = STANZA_T_UNAVAILABLE,
			.from = core_wstr(from), .to = core_wstr(d->jid),
			.xml = core_wstr(presence_unavailable_xml),
		};
		struct jid_view v;
		core_jid_split(st.to, &v);
		struct core_user *u = v.has_local ? contact_user_view(c, &v) : NULL;
		if (have_from && u && !(broadcast_done && got_broadcast(c, s->user, &v)))
			deliver_local(c, u, &st, &v);
		free(d);
	}
	s->ndirected = 0;
}

void presence_to_local(struct core *c, struct session *origin, const struct wire_stanza *st,
		       const struct jid_view *to)
{
	struct wire_str to_bare = core_jid_bare(to);
	struct core_user *u = session_user(c, to_bare.p, to_bare.len);
	if (blocking_blocks(c, u, to_bare, st->from))
		return; /* XEP-0191 §3.3: presence of any kind dropped, no error */
	if (st->type >= STANZA_T_SUBSCRIBE && st->type <= STANZA_T_UNSUBSCRIBED) {
		/* RFC 6121 §3.1.1: subscriptions are between bare JIDs. */
		char contact[CORE_JID_MAX];
		int n = snprintf(contact, sizeof contact, "%.*s", (int)to_bare.len, to_bare.p);
		if (n > 0 && (size_t)n < sizeof contact)
			subscribe_handle(c, origin->user->bare, contact, st->type, st->xml, 0);
		return;
	}
	if (st->type == STANZA_T_UNAVAILABLE)
		directed_forget(origin, st->to);
	if (!u)
		return; /* RFC 6121 §8.5.1 / §8.5.2.2: offline or unknown: dropped */
	if (st->type == STANZA_T_PROBE) {
		probe(c, origin, u);
		return;
	}
	if (deliver_local(c, u, st, to) && st->type == STANZA_T_NONE && u != origin->user)
		directed_note(origin, st->to); /* own resources get the broadcasts */
}

void presence_block_changed(struct core *c, struct core_user *u, const char *jid, int blocked)
{
	struct jid_view v;
	core_jid_split(core_wstr(jid), &v);
	struct core_user *cu = contact_user_view(c, &v);
	if (!cu || cu == u || !got_broadcast(c, u, &v))
		return;
	if (!v.has_resource) {
		send_current(c, u, cu, NULL, blocked);
		return;
	}
	struct session *t = session_by_resource(cu, v.resource.p, v.resource.len);
	if (t)
		send_current(c, u, NULL, t, blocked);
}
