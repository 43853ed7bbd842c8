/* router: stanza routing for local users (RFC 6120 §10, RFC 6121 §8).
 * Messages are routed on their header alone; their XML is never parsed. */
#ifndef STARLING_CORE_ROUTER_H
#define STARLING_CORE_ROUTER_H
#include "core.h"
#include "lib/stanza.h"
#include "lib/wire.h"

/* Stanza error conditions the core generates (RFC 6120 §8.3.3). */
enum router_err {
	ROUTER_ERR_BAD_REQUEST,
	ROUTER_ERR_FORBIDDEN,
	ROUTER_ERR_ITEM_NOT_FOUND,
	ROUTER_ERR_NOT_ACCEPTABLE,
	ROUTER_ERR_NOT_ALLOWED,
	ROUTER_ERR_INTERNAL,
	ROUTER_ERR_REMOTE_SERVER_NOT_FOUND,
	ROUTER_ERR_SERVICE_UNAVAILABLE,
	ROUTER_ERR_RESOURCE_CONSTRAINT,
	ROUTER_ERR_JID_MALFORMED,
	ROUTER_ERR_POLICY_VIOLATION,
	ROUTER_ERR_CONFLICT,
	ROUTER_ERR_NOT_AUTHORIZED,
	ROUTER_ERR_FEATURE_NOT_IMPLEMENTED,
	ROUTER_ERRS
};
/* The RFC 6120 §8.3.3 name of a condition ("bad-request"). */
const char *router_err_name(enum router_err cond);

/* A stanza that arrived from the client of origin (header from = its full JID). */
void router_stanza(struct core *c, struct session *origin, const struct wire_stanza *s);
/* Routes a message or iq to a JID of a hosted domain (to must be local). */
void router_route_local(struct core *c, const struct wire_stanza *s, const struct jid_view *to);
/* Queues s on the link of the session target. */
int router_deliver(struct core *c, struct session *target, const struct wire_stanza *s);
/* Multicast: between begin and end, router_mcast_add() collects sessions
 * that get s (with their own 'to', or s->to when to is NULL), and end queues
 * one STANZA_MULTI frame per link instead of a frame per session (a presence
 * broadcast to N contacts costs one frame per cm worker).  Not nested. */
void router_mcast_begin(struct core *c, const struct wire_stanza *s);
void router_mcast_add(struct core *c, struct session *target, const char *to);
void router_mcast_end(struct core *c);
/* XEP-0198 §4: s went to a session whose client never acknowledged it and
 * is gone.  A message goes where one to the bare JID would (another resource,
 * else offline storage); a request is answered with service-unavailable; the
 * rest is dropped. */
void router_returned(struct core *c, const struct wire_stanza *s);
/* Bounces orig back to its sender; never answers an error with an error. */
void router_error(struct core *c, const struct wire_stanza *orig, enum router_err cond);
/* The same with an application-specific condition element (RFC 6120
 * §8.3.2), e.g. XEP-0060's pubsub#errors; app NULL for none. */
void router_error_app(struct core *c, const struct wire_stanza *orig, enum router_err cond,
		      const char *app);
/* XEP-0191 §3.3: orig went to an entity its sender blocks: <not-acceptable/>
 * with <blocked/>, straight back to origin. */
void router_error_blocked(struct core *c, struct session *origin,
			  const struct wire_stanza *orig);
/* A server push (RFC 6121 §2.1.6, XEP-0191 §3.3): `<iq type="set"
 * id="push<n>">payload</iq>` to every session of u with flag (enum
 * session_flag), addressed to its full JID, with no 'from' (the account). */
void router_push(struct core *c, struct core_user *u, uint8_t flag, const char *payload,
		 size_t len);
/* Sends `<iq type="result" id=...>inner</iq>` answering orig to origin. */
void router_iq_result(struct core *c, struct session *origin, const struct wire_stanza *orig,
		      const char *inner, size_t inner_len);
/* The local session that sent s (its header from is that session's full
 * JID), or NULL when it is gone: for answers to requests the server takes
 * on an account's behalf, which the router hands on without the origin. */
struct session *router_sender(struct core *c, const struct wire_stanza *s);
/* "message", "presence", "iq" */
const char *router_kind_name(uint8_t kind);

#endif
