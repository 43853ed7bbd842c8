/* store: the core's persistent state (accounts, rosters, offline messages)
 * behind a small interface so another backend (PostgreSQL) can replace the
 * SQLite one.  Every mutating call commits before it returns, so a caller may
 * acknowledge the change (roster push, IQ result) as soon as it gets 0. */
#ifndef STARLING_CORE_STORE_H
#define STARLING_CORE_STORE_H
#include <stddef.h>
#include <stdint.h>

#include "lib/scram.h"

struct store;

/* Subscription bits of a roster item (RFC 6121 §2.1.2.5). */
enum store_sub { STORE_SUB_NONE = 0, STORE_SUB_TO = 1, STORE_SUB_FROM = 2, STORE_SUB_BOTH = 3 };

struct store_item {
	char *contact; /* bare JID; owned */
	char *name;    /* NULL when absent; owned */
	char *groups;  /* group names joined by '\n', NULL when none; owned */
	uint8_t sub;   /* enum store_sub */
	uint8_t ask;   /* pending out: we sent subscribe (RFC 6121 §3.1.2) */
	uint8_t pending_in; /* the contact asked us; not yet answered (§3.1.3) */
	uint8_t approved;   /* pre-approved: a later request is granted at once (§3.4) */
	/* A row kept only for a pending inbound request is not part of the
	 * roster the user sees (RFC 6121 §3.1.3: no roster item is created). */
	uint8_t hidden;
};

struct store_offline {
	int64_t id;
	char *from; /* owned */
	char *xml;  /* owned; the stanza without from/to */
	char *stanza_id; /* owned, may be "" */
	uint8_t type;	 /* enum stanza_type */
	int64_t stamp;	 /* unix seconds when stored */
};

/* Open (creating the schema when missing).  Every account is keyed by its
 * bare JID ("local@domain", virtual hosts); domain is the primary domain,
 * which an older file's keys (localparts) are upgraded into.  Returns 0 or
 * -EIO with a logged reason.  *out is freed by store_close(). */
int store_open(const char *path, const char *domain, struct store **out);
void store_close(struct store *st);

/* Accounts.  creds holds one entry per hash (SHA-1 and SHA-256). */
int store_user_add(struct store *st, const char *user, const struct scram_creds creds[2]);
int store_user_set_creds(struct store *st, const char *user, const struct scram_creds creds[2]);
/* DIGEST-MD5 (RFC 2831 §2.1.2.1): H(localpart ":" domain ":" password),
 * kept only while [c2s] digest_md5 is on when the password is set.
 * store_user_set_creds drops it (it belongs to the old password); set with
 * urp NULL drops it too.  set: 0, -ENOENT (no such account), -EIO.
 * get: 0, -ENOENT (none), -EIO. */
#define STORE_DIGEST_MD5_LEN 16
int store_user_set_digest(struct store *st, const char *user,
			  const uint8_t urp[STORE_DIGEST_MD5_LEN]);
int store_user_get_digest(struct store *st, const char *user, uint8_t urp[STORE_DIGEST_MD5_LEN]);
/* Removes the account with its roster and offline messages.  -ENOENT if absent. */
int store_user_del(struct store *st, const char *user);
/* Returns 0, -ENOENT, -EIO. */
int store_user_get(struct store *st, const char *user, struct scram_creds creds[2]);
/* 1 exists, 0 not, negative errno. */
int store_user_exists(struct store *st, const char *user);
/* Calls cb for every username in order; stops when cb returns non-zero. */
int store_user_list(struct store *st, int (*cb)(void *ctx, const char *user), void *ctx);

/* Rosters.  user and contact are bare JIDs. */
int store_roster_get(struct store *st, const char *user, const char *contact,
		     struct store_item *out); /* 0 or -ENOENT */
int store_roster_put(struct store *st, const char *user, const struct store_item *it);
int store_roster_del(struct store *st, const char *user, const char *contact);
/* The roster's version (RFC 6121 §2.6): moves on every change of any of its
 * rows, 0 for a roster never written.  Returns 0 or -EIO. */
int store_roster_version(struct store *st, const char *user, int64_t *ver);
/* Loads the whole roster (hidden rows included) into a malloc'd array; free
 * it with store_items_free(). */
int store_roster_load(struct store *st, const char *user, struct store_item **items,
		      size_t *n);
void store_item_free(struct store_item *it);
void store_items_free(struct store_item *items, size_t n);

/* Groups the next calls into one transaction (both sides of a subscription
 * change are committed together).  Nested calls are counted. */
int store_begin(struct store *st);
int store_commit(struct store *st);
/* How long the outermost commits took (for /metrics). */
struct lathist;
const struct lathist *store_commit_latency(const struct store *st);
void store_rollback(struct store *st);

/* Offline messages (RFC 6121 §8.5.2.1.1 storage), kept in arrival order. */
int store_offline_add(struct store *st, const char *user, const struct store_offline *m);
int store_offline_count(struct store *st, const char *user); /* >= 0 or errno */
/* Offline messages of every account (a table scan: core/metrics.c asks at
 * most once a minute).  >= 0 or -errno. */
int64_t store_offline_total(struct store *st);
int store_offline_load(struct store *st, const char *user, struct store_offline **msgs,
		       size_t *n);
/* Deletes the user's messages with id <= upto. */
int store_offline_del(struct store *st, const char *user, int64_t upto);
void store_offline_free(struct store_offline *msgs, size_t n);

/* Blocking command (XEP-0191): the JIDs an account blocks.  Adding one that
 * is there, or removing one that is not, is not an error. */
int store_block_add(struct store *st, const char *user, const char *jid);
int store_block_del(struct store *st, const char *user, const char *jid);
int store_block_clear(struct store *st, const char *user);
/* Loads the list in order into a malloc'd array of malloc'd strings; free it
 * with store_strings_free(). */
int store_block_load(struct store *st, const char *user, char ***jids, size_t *n);
void store_strings_free(char **v, size_t n);

/* An account's XML documents by key (vcard-temp, private XML storage).
 * get: 0 with *xml malloc'd (caller frees), or -ENOENT.  put: xml NULL
 * deletes the document. */
int store_xml_get(struct store *st, const char *user, const char *key, char **xml);
int store_xml_put(struct store *st, const char *user, const char *key, const char *xml);
/* How many of the account's documents have a key starting with prefix, not
 * counting the key except (NULL: none): >= 0 or negative errno. */
int store_xml_count(struct store *st, const char *user, const char *prefix, const char *except);

/* When the account's last session ended, with its last status text
 * (XEP-0012 §5).  get: 0 with *status malloc'd or NULL, or -ENOENT. */
int store_last_set(struct store *st, const char *user, int64_t stamp, const char *status);
int store_last_get(struct store *st, const char *user, int64_t *stamp, char **status);

/* PEP (XEP-0163): an account's nodes, their configuration (XEP-0060 §16.4.3
 * fields the service honours) and their items, newest last. */
enum store_pep_access { STORE_PEP_PRESENCE, STORE_PEP_OPEN, STORE_PEP_WHITELIST };
enum store_pep_send_last { STORE_PEP_NEVER, STORE_PEP_ON_SUB, STORE_PEP_ON_SUB_AND_PRESENCE };
struct store_pep_config {
	uint8_t access;	   /* enum store_pep_access */
	uint8_t send_last; /* enum store_pep_send_last */
	uint8_t notify_retract;
	uint16_t max_items;
};
/* get: 0, -ENOENT.  put creates or reconfigures (items kept, trimmed to
 * max_items).  del removes the node with its items: 0, -ENOENT. */
int store_pep_node_get(struct store *st, const char *user, const char *node,
		       struct store_pep_config *cfg);
int store_pep_node_put(struct store *st, const char *user, const char *node,
		       const struct store_pep_config *cfg);
int store_pep_node_del(struct store *st, const char *user, const char *node);
int store_pep_node_count(struct store *st, const char *user); /* >= 0 or errno */
/* Calls cb with each node of the account and its access model, in order of
 * name; stops at non-zero. */
int store_pep_node_list(struct store *st, const char *user,
			int (*cb)(void *ctx, const char *node, uint8_t access), void *ctx);
/* Stores the item as the node's newest (replacing one with its id) and keeps
 * the newest max items.  The node must exist. */
int store_pep_item_put(struct store *st, const char *user, const char *node, const char *id,
		       const char *xml, unsigned max);
/* Bytes all the account's items take (payloads, node names and ids) but
 * node/id's: >= 0 or -errno. */
int64_t store_pep_bytes(struct store *st, const char *user, const char *node, const char *id);
int store_pep_item_del(struct store *st, const char *user, const char *node,
		       const char *id); /* 0, -ENOENT */
int store_pep_item_purge(struct store *st, const char *user, const char *node);
/* Calls cb(ctx, id, xml) for the newest items, at most max of them and
 * bytes of payload together, oldest first; or for the one with id when id is
 * not NULL (none: 0 and no call). */
int store_pep_item_load(struct store *st, const char *user, const char *node, const char *id,
			unsigned max, size_t bytes,
			int (*cb)(void *ctx, const char *id, const char *xml), void *ctx);
/* The last item of each node user may be sent on becoming available
 * (XEP-0163 §4.3.2): its own nodes and those of the contacts that share
 * their presence with it (a subscription both ways round as each roster
 * says), not whitelisted, configured to send it on presence; grouped by
 * owner.  item is the row to fetch the payload with, store_pep_item_xml. */
int store_pep_last(struct store *st, const char *user,
		   int (*cb)(void *ctx, const char *owner, const char *node, const char *id,
			     int64_t item),
		   void *ctx);
/* The same for one owner's nodes, for a contact that has just been allowed
 * to see its presence (XEP-0163 §4.3.2, send_last_published_item on_sub
 * or on_sub_and_presence). */
int store_pep_last_of(struct store *st, const char *owner,
		      int (*cb)(void *ctx, const char *owner, const char *node, const char *id,
				int64_t item),
		      void *ctx);
/* The payload of an item store_pep_last named: 0 with *xml malloc'd (the
 * caller frees), -ENOENT, -EIO. */
int store_pep_item_xml(struct store *st, int64_t item, char **xml);

#endif
