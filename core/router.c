/* router: where a stanza goes (RFC 6120 §10.5, RFC 6121 §8.5).  The core
 * hosts one or more domains (virtual hosts, all local to each other) and has
 * no server-to-server links yet. */
#include "router.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "blocking.h"
#include "carbons.h"
#include "iq.h"
#include "lib/lathist.h"
#include "lib/log.h"
#include "link.h"
#include "park.h"
#include "presence.h"

void core_jid_split(struct wire_str jid, struct jid_view *v)
{
	memset(v, 0, sizeof *v);
	uint32_t slash = jid.len, at;
	for (uint32_t i = 0; i < jid.len; i++)
		if (jid.p[i] == '/') {
			slash = i;
			break;
		}
	for (at = 0; at < slash && jid.p[at] != '@'; at++)
		;
	if (slash < jid.len) {
		v->has_resource = 1;
		v->resource.p = jid.p + slash + 1;
		v->resource.len = jid.len - slash - 1;
	}
	if (at < slash) {
		v->has_local = 1;
		v->local.p = jid.p;
		v->local.len = at;
		v->domain.p = jid.p + at + 1;
		v->domain.len = slash - at - 1;
	} else {
		v->domain.p = jid.p;
		v->domain.len = slash;
	}
}

int core_is_local_domain(const struct core *c, struct wire_str domain)
{
	if (wire_str_eq(domain, c->domain))
		return 1;
	for (unsigned i = 0; i < c->nhosts; i++)
		if (wire_str_eq(domain, c->hosts[i]))
			return 1;
	return 0;
}

const char *router_kind_name(uint8_t kind)
{
	switch (kind) {
	case STANZA_MESSAGE: return "message";
	case STANZA_PRESENCE: return "presence";
	case STANZA_IQ: return "iq";
	default: return NULL;
	}
}

int router_deliver(struct core *c, struct session *target, const struct wire_stanza *s)
{
	/* A link that failed this turn still takes it: kept, the stanza is
	 * routed again when the link closes and its sessions are gone
	 * (link_close), instead of being dropped. */
	struct link *l = target->link;
	if (l->parking)
		return park_queue(c, target, s);
	if (c->trace.armed) {
		c->trace.t[3] = lathist_now_ns();
		if (wire_put_trace(&l->out, target->sid, c->trace.t, WIRE_TRACE_MAX))
			log_debug("link %s: no room for a trace frame", l->peer);
	}
	size_t before = buf_avail(&l->out);
	int rc = wire_put_stanza(&l->out, target->sid, s);
	if (rc) {
		log_warn("link %s: cannot queue stanza: %s", l->peer, strerror(-rc));
		return rc;
	}
	link_keep(l, before);
	c->stats.deliveries++;
	if (buf_avail(&l->out) > LINK_OUT_MAX)
		link_fail(l, "output backlog over limit");
	return 0;
}

void router_mcast_begin(struct core *c, const struct wire_stanza *s)
{
	c->mcast = s;
	c->mc_links = NULL;
}

void router_mcast_add(struct core *c, struct session *target, const char *to)
{
	struct link *l = target->link;
	if (l->dead)
		return;
	if (l->parking) {
		struct wire_stanza st = *c->mcast;
		if (to)
			st.to = core_wstr(to);
		if (park_queue(c, target, &st))
			log_warn("a parked session's presence not queued");
		return;
	}
	if (wire_put_dest(&l->mc, target->sid, to ? to : "", to ? strlen(to) : 0)) {
		log_warn("link %s: cannot queue a multicast destination", l->peer);
		return;
	}
	if (!l->mc_n++) {
		l->mc_next = c->mc_links;
		c->mc_links = l;
	}
}

void router_mcast_end(struct core *c)
{
	for (struct link *l = c->mc_links, *nx; l; l = nx) {
		nx = l->mc_next;
		size_t before = buf_avail(&l->out);
		int rc = wire_put_stanza_multi(&l->out, c->mcast, l->mc_n, &l->mc);
		if (!rc)
			link_keep(l, before);
		if (rc)
			log_warn("link %s: cannot queue stanza: %s", l->peer, strerror(-rc));
		else
			c->stats.deliveries += l->mc_n;
		buf_reset(&l->mc);
		l->mc_n = 0;
		l->mc_next = NULL;
		if (buf_avail(&l->out) > LINK_OUT_MAX)
			link_fail(l, "output backlog over limit");
	}
	c->mcast = NULL;
	c->mc_links = NULL;
}

static const struct {
	const char *cond, *type;
} router_errs[] = {
	/* RFC 6120 §8.3.3 conditions with their usual error types (§8.3.2). */
	[ROUTER_ERR_BAD_REQUEST] = {"bad-request", "modify"},
	[ROUTER_ERR_FORBIDDEN] = {"forbidden", "auth"},
	[ROUTER_ERR_ITEM_NOT_FOUND] = {"item-not-found", "cancel"},
	[ROUTER_ERR_NOT_ACCEPTABLE] = {"not-acceptable", "modify"},
	[ROUTER_ERR_NOT_ALLOWED] = {"not-allowed", "cancel"},
	[ROUTER_ERR_INTERNAL] = {"internal-server-error", "cancel"},
	[ROUTER_ERR_REMOTE_SERVER_NOT_FOUND] = {"remote-server-not-found", "cancel"},
	[ROUTER_ERR_SERVICE_UNAVAILABLE] = {"service-unavailable", "cancel"},
	[ROUTER_ERR_RESOURCE_CONSTRAINT] = {"resource-constraint", "wait"},
	[ROUTER_ERR_JID_MALFORMED] = {"jid-malformed", "modify"},
	/* §8.3.3.12: "modify" when the sender can comply by changing its request */
	[ROUTER_ERR_POLICY_VIOLATION] = {"policy-violation", "modify"},
	[ROUTER_ERR_CONFLICT] = {"conflict", "cancel"},
	[ROUTER_ERR_NOT_AUTHORIZED] = {"not-authorized", "auth"},
	[ROUTER_ERR_FEATURE_NOT_IMPLEMENTED] = {"feature-not-implemented", "cancel"},
};

_Static_assert(ROUTER_ERRS <= CORE_STANZA_ERRS, "core_stats.stanza_errors too small");

const char *router_err_name(enum router_err cond) { return router_errs[cond].cond; }

/* app: an application-specific condition element (RFC 6120 §8.3.2), or NULL. */
static int error_xml(struct buf *x, const char *kind, struct wire_str id, enum router_err cond,
		     const char *app)
{
	/* || keeps the appends in order and stops at the first failure. */
	if (buf_append_str(x, "<") || buf_append_str(x, kind) ||
	    buf_append_str(x, " type=\"error\""))
		return -ENOMEM;
	if (id.len && (buf_append_str(x, " id=\"") || buf_append_xml_escaped(x, id.p, id.len) ||
		       buf_append_str(x, "\"")))
		return -ENOMEM;
	if (buf_append_str(x, "><error type=\"") || buf_append_str(x, router_errs[cond].type) ||
	    buf_append_str(x, "\"><") || buf_append_str(x, router_errs[cond].cond) ||
	    buf_append_str(x, " xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\"/>") ||
	    (app && buf_append_str(x, app)) || buf_append_str(x, "</error></") ||
	    buf_append_str(x, kind) || buf_append_str(x, ">"))
		return -ENOMEM;
	return 0;
}

/* The error answering orig, from its addressee back to its sender, delivered
 * to origin when given and routed otherwise. */
static void send_error(struct core *c, struct session *origin, const struct wire_stanza *orig,
		       enum router_err cond, const char *app)
{
	const char *kind = router_kind_name(orig->kind);
	/* RFC 6120 §8.3.1: never answer an error with an error. */
	if (orig->type == STANZA_T_ERROR || !orig->from.len || !kind)
		return;
	c->stats.stanza_errors[cond]++;
	struct buf x = {0};
	if (error_xml(&x, kind, orig->id, cond, app)) {
		buf_free(&x);
		return;
	}
	struct wire_stanza e = {
		.kind = orig->kind,
		.type = STANZA_T_ERROR,
		.id = orig->id,
		.from = orig->to,
		.to = orig->from,
		.xml = {buf_head(&x), (uint32_t)buf_avail(&x)},
	};
	struct jid_view v;
	core_jid_split(e.to, &v);
	/* No 'to': the sender's own server answers, in the sender's domain. */
	if (!e.from.len)
		e.from = core_is_local_domain(c, v.domain) ? v.domain : core_wstr(c->domain);
	if (origin)
		router_deliver(c, origin, &e);
	else if (v.has_local && core_is_local_domain(c, v.domain))
		router_route_local(c, &e, &v);
	buf_free(&x);
}

void router_error(struct core *c, const struct wire_stanza *orig, enum router_err cond)
{
	send_error(c, NULL, orig, cond, NULL);
}

void router_error_app(struct core *c, const struct wire_stanza *orig, enum router_err cond,
		      const char *app)
{
	send_error(c, NULL, orig, cond, app);
}

void router_error_blocked(struct core *c, struct session *origin,
			  const struct wire_stanza *orig)
{
	send_error(c, origin, orig, ROUTER_ERR_NOT_ACCEPTABLE,
		   "<blocked xmlns=\"" BLOCKING_NS ":errors\"/>");
}

void router_iq_result(struct core *c, struct session *origin, const struct wire_stanza *orig,
		      const char *inner, size_t inner_len)
{
	struct buf x = {0};
	int rc = buf_append_str(&x, "<iq type=\"result\"");
	if (!rc && orig->id.len)
		rc = buf_append_str(&x, " id=\"") ||
		     buf_append_xml_escaped(&x, orig->id.p, orig->id.len) ||
		     buf_append_str(&x, "\"");
	if (!rc && inner_len)
		rc = buf_append_str(&x, ">") || buf_append(&x, inner, inner_len) ||
		     buf_append_str(&x, "</iq>");
	else if (!rc)
		rc = buf_append_str(&x, "/>");
	if (!rc) {
		struct wire_stanza r = {
			.kind = STANZA_IQ,
			.type = STANZA_T_RESULT,
			.id = orig->id,
			.from = orig->to, /* RFC 6120 §8.1.2.1: absent when the request had none */
			.to = orig->from,
			.xml = {buf_head(&x), (uint32_t)buf_avail(&x)},
		};
		router_deliver(c, origin, &r);
	}
	buf_free(&x);
}

struct session *router_sender(struct core *c, const struct wire_stanza *s)
{
	struct jid_view v;
	core_jid_split(s->from, &v);
	if (!v.has_local || !v.has_resource || !core_is_local_domain(c, v.domain))
		return NULL;
	struct wire_str bare = core_jid_bare(&v);
	struct core_user *u = session_user(c, bare.p, bare.len);
	return u ? session_by_resource(u, v.resource.p, v.resource.len) : NULL;
}

void router_push(struct core *c, struct core_user *u, uint8_t flag, const char *payload,
		 size_t len)
{
	struct buf x = {0};
	char id[24], to[CORE_JID_MAX];
	int n = snprintf(id, sizeof id, "push%u", ++c->push_seq);
	if (buf_append_str(&x, "<iq type=\"set\" id=\"") || buf_append_str(&x, id) ||
	    buf_append_str(&x, "\">") || buf_append(&x, payload, len) ||
	    buf_append_str(&x, "</iq>")) {
		buf_free(&x);
		return;
	}
	struct wire_stanza st = {.kind = STANZA_IQ, .type = STANZA_T_SET,
				 .id = {id, (uint32_t)n},
				 .xml = {buf_head(&x), (uint32_t)buf_avail(&x)}};
	for (struct session *s = u->sessions; s; s = s->user_next) {
		if (!(s->flags & flag) || session_full_jid(c, s, to, sizeof to) < 0)
			continue;
		st.to = core_wstr(to);
		router_deliver(c, s, &st);
	}
	buf_free(&x);
}

static int is_get_set(const struct wire_stanza *s)
{
	return s->type == STANZA_T_GET || s->type == STANZA_T_SET;
}

/* Returns 1 when the account exists, 0 when not, <0 on a store error. */
static int account_exists(struct core *c, struct wire_str bare)
{
	char name[CORE_JID_MAX];
	if (!bare.len || bare.len >= sizeof name)
		return 0;
	memcpy(name, bare.p, bare.len);
	name[bare.len] = 0;
	return store_user_exists(c->store, name);
}

/* RFC 6121 §8.5.2.1.1: store while no resource is available. */
static void store_offline(struct core *c, const struct core_user *u, struct wire_str bare,
			  const struct wire_stanza *s)
{
	char name[CORE_JID_MAX];
	if (u)
		snprintf(name, sizeof name, "%s", u->bare);
	else if (bare.len < sizeof name) {
		memcpy(name, bare.p, bare.len);
		name[bare.len] = 0;
	} else
		return;
	int n = store_offline_count(c->store, name);
	if (n < 0 || n >= CORE_OFFLINE_MAX) {
		router_error(c, s, ROUTER_ERR_SERVICE_UNAVAILABLE);
		return;
	}
	struct store_offline m = {.type = s->type};
	m.from = wire_strdup(s->from);
	m.xml = wire_strdup(s->xml);
	m.stanza_id = wire_strdup(s->id);
	int rc = m.from && m.xml && m.stanza_id ? store_offline_add(c->store, name, &m) : -ENOMEM;
	if (rc) {
		router_error(c, s, ROUTER_ERR_SERVICE_UNAVAILABLE);
	} else {
		c->stats.offline_stored++;
		log_debug("stored offline message for %s", name);
	}
	free(m.from);
	free(m.xml);
	free(m.stanza_id);
}

/* Message delivery to the bare JID of an existing account, RFC 6121
 * §8.5.2 (and §8.5.3.2.1 for a chat to a full JID without a session).
 * Only available resources with a non-negative priority count (§8.5.2.1.1,
 * last paragraphs: with none, the account is treated as having no
 * resource, §8.5.2.2.1).  error: ignored; groupchat: service-unavailable;
 * headline: every counted resource, else ignored; normal and chat: the
 * highest-priority ones ("most available"), else offline storage. */
static void route_message_bare(struct core *c, struct core_user *u, struct wire_str bare,
			       const struct wire_stanza *s)
{
	int best = -1, any = 0;
	switch (s->type) {
	case STANZA_T_ERROR:
		return; /* silently ignored */
	case STANZA_T_GROUPCHAT:
		router_error(c, s, ROUTER_ERR_SERVICE_UNAVAILABLE);
		return;
	default:
		break;
	}
	for (struct session *t = u ? u->sessions : NULL; t; t = t->user_next)
		if ((t->flags & SESSION_AVAILABLE) && t->priority >= 0 && t->priority > best)
			best = t->priority;
	for (struct session *t = u ? u->sessions : NULL; t; t = t->user_next) {
		if (!(t->flags & SESSION_AVAILABLE) || t->priority < 0)
			continue;
		if (s->type == STANZA_T_HEADLINE || t->priority == best) {
			router_deliver(c, t, s);
			t->flags |= SESSION_GOT;
			any = 1;
		}
	}
	if (any)
		carbons_received(c, u, s); /* XEP-0280 §6: the other resources */
	else if (s->type != STANZA_T_HEADLINE)
		store_offline(c, u, bare, s);
}

/* RFC 6121 §8.5.1 and table 1 of §8.5.4: the account does not exist (ex
 * 0), or the store could not say (ex < 0). */
static void to_no_account(struct core *c, const struct wire_stanza *s, int ex)
{
	/* A headline is silently ignored: table 1 allows only that for a bare
	 * JID and S/E for a full one, and a headline expects no answer. */
	if (s->kind == STANZA_MESSAGE && s->type == STANZA_T_HEADLINE)
		return;
	/* Messages: S/E, we bounce; IQ get/set: service-unavailable.  An IQ
	 * result or error gets no answer (RFC 6120 §8.2.3), presence is
	 * handled by presence_to_local. */
	if (s->kind == STANZA_MESSAGE || is_get_set(s))
		router_error(c, s, ex < 0 ? ROUTER_ERR_INTERNAL : ROUTER_ERR_SERVICE_UNAVAILABLE);
}

/* RFC 6121 §8.5.3.2.1: a message to a full JID that matches no connected
 * resource.  Only chat falls back to the bare JID's rules (table 1: O/E,
 * D, M); normal and groupchat are S/E (we bounce, so the sender learns the
 * message went nowhere); headline is S/E too but, like an error, dropped. */
static void message_no_resource(struct core *c, struct core_user *u, struct wire_str bare,
				const struct wire_stanza *s)
{
	switch (s->type) {
	case STANZA_T_CHAT:
		route_message_bare(c, u, bare, s);
		return;
	case STANZA_T_NONE:
	case STANZA_T_NORMAL:
	case STANZA_T_GROUPCHAT:
		router_error(c, s, ROUTER_ERR_SERVICE_UNAVAILABLE);
		return;
	default:
		return; /* headline, error */
	}
}

/* RFC 6121 §8.5.3: a full JID of an existing account (u NULL when none of
 * its sessions is open). */
static void route_full(struct core *c, struct core_user *u, const struct wire_stanza *s,
		       const struct jid_view *to)
{
	struct session *t = u ? session_by_resource(u, to->resource.p, to->resource.len) : NULL;
	if (t) {
		/* §8.5.3.1: delivered whatever the priority or availability */
		router_deliver(c, t, s);
		if (s->kind == STANZA_MESSAGE) {
			t->flags |= SESSION_GOT;
			carbons_received(c, u, s);
		}
		return;
	}
	if (s->kind == STANZA_MESSAGE)
		message_no_resource(c, u, core_jid_bare(to), s);
	else if (is_get_set(s))
		router_error(c, s, ROUTER_ERR_SERVICE_UNAVAILABLE); /* §8.5.3.2.3 */
	/* An IQ result or error for a resource that has gone is dropped: it
	 * must not be answered (RFC 6120 §8.2.3, §8.3.1). */
}

void router_route_local(struct core *c, const struct wire_stanza *s, const struct jid_view *to)
{
	struct wire_str bare = core_jid_bare(to);
	struct core_user *u = session_user(c, bare.p, bare.len);
	if (!u) {
		int ex = account_exists(c, bare);
		if (ex <= 0) {
			to_no_account(c, s, ex);
			return;
		}
	}
	if (s->from.len && blocking_blocks(c, u, bare, s->from)) {
		/* XEP-0191 §3.3: the user appears offline to whom it blocks; a
		 * message or request gets <service-unavailable/>, the rest is dropped. */
		if (s->kind == STANZA_MESSAGE || is_get_set(s))
			router_error(c, s, ROUTER_ERR_SERVICE_UNAVAILABLE);
		return;
	}
	if (to->has_resource)
		route_full(c, u, s, to);
	else if (s->kind == STANZA_MESSAGE)
		route_message_bare(c, u, bare, s);
	else if (s->kind == STANZA_IQ && is_get_set(s))
		/* RFC 6121 §8.5.2.1.3, §8.5.2.2.3: the server answers for the
		 * account and never delivers the IQ to a resource */
		iq_handle(c, NULL, s, IQ_TO_OTHER);
	/* IQ result or error to a bare JID: nothing asked for it (RFC 6120
	 * §8.2.3), dropped */
}

void router_returned(struct core *c, const struct wire_stanza *s)
{
	struct jid_view v;
	core_jid_split(s->to, &v);
	if (!v.has_local || !core_is_local_domain(c, v.domain))
		return;
	if (s->kind == STANZA_IQ) {
		router_error(c, s, ROUTER_ERR_SERVICE_UNAVAILABLE); /* RFC 6120 §8.2.3 */
		return;
	}
	if (s->kind != STANZA_MESSAGE)
		return;
	struct wire_stanza m = *s;
	m.to = core_jid_bare(&v);
	v.has_resource = 0;
	v.resource = (struct wire_str){NULL, 0};
	router_route_local(c, &m, &v);
}

/* A stanza addressed to the domain itself: the server answers (RFC 6120 §10.5.1). */
static void to_server(struct core *c, struct session *origin, const struct wire_stanza *s)
{
	if (s->kind == STANZA_IQ)
		iq_handle(c, origin, s, IQ_TO_SERVER);
	else if (s->kind == STANZA_MESSAGE &&
		 (s->type == STANZA_T_NONE || s->type == STANZA_T_NORMAL ||
		  s->type == STANZA_T_CHAT))
		router_error(c, s, ROUTER_ERR_SERVICE_UNAVAILABLE);
	/* presence to the server (probes, directed) is not used by clients: dropped */
}

/* No 'to': RFC 6120 §10.3. */
static void to_nobody(struct core *c, struct session *origin, const struct wire_stanza *s)
{
	if (s->kind == STANZA_PRESENCE) {
		presence_from_client(c, origin, s);
		return;
	}
	if (s->kind == STANZA_IQ) {
		iq_handle(c, origin, s, IQ_TO_SERVER);
		return;
	}
	/* RFC 6120 §10.3.1: a message without 'to' is for the sender's bare JID. */
	char bare[CORE_JID_MAX];
	if (session_bare_jid(c, origin->user, bare, sizeof bare) < 0)
		return;
	struct wire_stanza m = *s;
	m.to = core_wstr(bare);
	struct jid_view v;
	core_jid_split(m.to, &v);
	router_route_local(c, &m, &v);
}

static int is_subscription(uint8_t type)
{
	return type == STANZA_T_SUBSCRIBE || type == STANZA_T_SUBSCRIBED ||
	       type == STANZA_T_UNSUBSCRIBE || type == STANZA_T_UNSUBSCRIBED;
}

void router_stanza(struct core *c, struct session *origin, const struct wire_stanza *s)
{
	if (!router_kind_name(s->kind)) {
		log_debug("dropping stanza of unknown kind %u", s->kind);
		return;
	}
	c->stats.stanzas[s->kind]++;
	if (s->type == STANZA_T_INVALID) {
		router_error(c, s, ROUTER_ERR_BAD_REQUEST);
		return;
	}
	if (!s->to.len) {
		to_nobody(c, origin, s);
		return;
	}
	struct jid_view v;
	core_jid_split(s->to, &v);
	if ((v.has_local || !core_is_local_domain(c, v.domain)) &&
	    blocking_blocks(c, origin->user, core_wstr(NULL), s->to)) {
		/* XEP-0191 §3.3: not routed; requests and messages get an error.
		 * The user's own server stays reachable whatever the list says. */
		if (s->type != STANZA_T_RESULT)
			router_error_blocked(c, origin, s);
		return;
	}
	if (!core_is_local_domain(c, v.domain)) {
		/* No s2s yet (RFC 6120 §10.4: remote domain) */
		if (s->kind != STANZA_PRESENCE || is_subscription(s->type))
			router_error(c, s, ROUTER_ERR_REMOTE_SERVER_NOT_FOUND);
		return;
	}
	if (!v.has_local) {
		to_server(c, origin, s);
		return;
	}
	if (s->kind == STANZA_PRESENCE) {
		presence_to_local(c, origin, s, &v);
		return;
	}
	if (s->kind == STANZA_IQ && !v.has_resource &&
	    core_wstr_eq(core_wstr(origin->user->bare), core_jid_bare(&v))) {
		if (is_get_set(s))
			iq_handle(c, origin, s, IQ_TO_ACCOUNT);
		return;
	}
	/* XEP-0280 §7: the sender's other resources see what it sent (not for
	 * messages to its own account, which they receive or get copies of). */
	if (s->kind == STANZA_MESSAGE && !core_wstr_eq(core_wstr(origin->user->bare), core_jid_bare(&v)))
		carbons_sent(c, origin, s);
	router_route_local(c, s, &v);
}
