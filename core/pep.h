/* pep: the Personal Eventing Protocol (XEP-0163).  Every account is a
 * publish-subscribe service (XEP-0060) of its own: its clients publish items
 * to nodes (created on first publish), its contacts read them, and the
 * resources whose entity caps ask for a node (caps.h) are notified of each
 * publication and get the last item when they come online. */
#ifndef STARLING_CORE_PEP_H
#define STARLING_CORE_PEP_H
#include "core.h"
#include "iq.h"

#define PUBSUB_NS "http://jabber.org/protocol/pubsub"
/* Limits: payload bytes per item, nodes per account, items per node (what
 * pubsub#max_items "max" means), bytes in a node name or an item id. */
#define PEP_PAYLOAD_MAX 131072
#define PEP_NODES_MAX 256
#define PEP_ITEMS_MAX 256
#define PEP_NAME_MAX 256
/* Payload bytes an account keeps in all its nodes together: the disk a
 * user can fill (256 nodes of 256 items of 128 KiB would be 8 GiB). */
#define PEP_ACCOUNT_MAX (8u << 20)
/* Payload bytes in one items result (more are left out, newest kept:
 * XEP-0060 §6.5.7 lets a service return fewer), and in the last items a
 * session gets when it comes online: a login or a request never makes the
 * core queue more than this for one client. */
#define PEP_RESULT_MAX (2 * PEP_PAYLOAD_MAX)
#define PEP_LAST_MAX (1u << 20)

/* What an account's disco#info adds for PEP (XEP-0163 §6, XEP-0060 §10). */
#define PEP_DISCO_INFO                                                                             \
	"<identity category=\"pubsub\" type=\"pep\"/>"                                             \
	"<feature var=\"" PUBSUB_NS "#access-open\"/>"                                             \
	"<feature var=\"" PUBSUB_NS "#access-presence\"/>"                                         \
	"<feature var=\"" PUBSUB_NS "#access-whitelist\"/>"                                        \
	"<feature var=\"" PUBSUB_NS "#auto-create\"/>"                                             \
	"<feature var=\"" PUBSUB_NS "#config-node\"/>"                                             \
	"<feature var=\"" PUBSUB_NS "#create-nodes\"/>"                                            \
	"<feature var=\"" PUBSUB_NS "#delete-nodes\"/>"                                            \
	"<feature var=\"" PUBSUB_NS "#filtered-notifications\"/>"                                  \
	"<feature var=\"" PUBSUB_NS "#item-ids\"/>"                                                \
	"<feature var=\"" PUBSUB_NS "#last-published\"/>"                                          \
	"<feature var=\"" PUBSUB_NS "#persistent-items\"/>"                                        \
	"<feature var=\"" PUBSUB_NS "#publish\"/>"                                                 \
	"<feature var=\"" PUBSUB_NS "#publish-options\"/>"                                         \
	"<feature var=\"" PUBSUB_NS "#purge-nodes\"/>"                                             \
	"<feature var=\"" PUBSUB_NS "#retract-items\"/>"                                           \
	"<feature var=\"" PUBSUB_NS "#retrieve-items\"/>"

/* Answers <pubsub/> in the pubsub and pubsub#owner namespaces addressed to
 * an account (its own, or another's for reading); 1 when it did. */
int pep_iq(const struct iq_req *r);
/* XEP-0060 §5.2: an account's disco#items, its nodes as items, answered
 * to r; for another account (allowed to discover it: a subscriber) those
 * not whitelisted. */
void pep_disco_items(const struct iq_req *r);
/* s became available, or learnt what it wants (caps.c): it gets the last
 * item of each node it asks for, of its own account and of every contact it
 * is subscribed to (XEP-0163 §4.3.2). */
void pep_send_last(struct core *c, struct session *s);

/* The owner has just let subscriber see its presence (RFC 6121 §3.1.5):
 * the subscriber's available resources that ask for the owner's nodes get
 * their last items (XEP-0163 §4.3.2). */
void pep_send_subscribed(struct core *c, struct core_user *owner, struct core_user *subscriber);

#endif
