/* session: the online users and their sessions (resources), indexed two
 * ways: by bare JID (the accounts of every hosted domain) and by (link, sid). */
#ifndef STARLING_CORE_SESSION_H
#define STARLING_CORE_SESSION_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct core;
struct link;
struct core_user;
struct blocklist;
struct fanout;
struct caps;

enum session_flag {
	SESSION_AVAILABLE = 1,	/* sent available presence, not yet unavailable */
	SESSION_INTERESTED = 2, /* requested the roster: gets roster pushes (RFC 6121 §2.1.6) */
	SESSION_CARBONS = 4,	/* enabled Message Carbons (XEP-0280) */
	SESSION_GOT = 8,	/* got the message being routed (carbons.c; cleared after) */
	SESSION_BLOCKLIST = 16, /* requested the blocklist: gets its pushes (XEP-0191 §3.3) */
	SESSION_PEP_LAST = 32,	/* got the PEP last items since it became available (pep.c) */
};

/* An entity the session sent directed available presence to and that gets
 * no broadcast from it (RFC 6121 §4.6.3): it is sent unavailable presence
 * when the session goes unavailable.  malloc'd; freed by presence.c when it
 * is told, or by session_free. */
struct directed {
	struct directed *next;
	char jid[]; /* as the client addressed it: bare or full, NUL-terminated */
};

/* At most this many entities tracked per session; directed presence to more
 * is still delivered, just not followed by an unavailable at the end. */
#define SESSION_DIRECTED_MAX 64

/* Kept small: one per connected resource. */
struct session {
	struct session *link_next; /* chain in the link's sid table */
	struct session *user_next; /* the user's other sessions */
	struct link *link;
	struct core_user *user;
	/* Last available presence, without from/to; while unavailable, the
	 * unavailable presence when it had a <status/> (XEP-0012), else NULL.
	 * malloc'd, owned. */
	char *presence;
	struct directed *directed; /* RFC 6121 §4.6.3; owned */
	struct caps *caps; /* XEP-0115 feature set (caps.c), shared; NULL none */
	uint32_t presence_len;
	uint32_t sid;
	int8_t priority; /* RFC 6121 §4.7.2.3 */
	uint8_t flags;	 /* enum session_flag */
	uint8_t ndirected; /* entries in directed, <= SESSION_DIRECTED_MAX */
	uint32_t since;	   /* wall-clock seconds at SESSION_OPEN (starlingctl sessions) */
	/* NUL-terminated, prepared; then the client's address as the cm gave
	 * it, NUL-terminated ("" unknown): session_addr(). */
	char resource[];
};

/* The longest client address kept ("[v6]:port"). */
#define SESSION_ADDR_MAX 64
static inline const char *session_addr(const struct session *s)
{
	return s->resource + strlen(s->resource) + 1;
}

struct core_user {
	struct core_user *next; /* hash chain */
	struct session *sessions;
	struct blocklist *blocked; /* XEP-0191; NULL until loaded (blocking.c), owned */
	struct fanout *fanout;	   /* broadcast list (fanout.c); NULL or owned */
	uint32_t hash;
	uint8_t broadcasts; /* presence broadcasts so far, saturating (fanout.c) */
	char bare[]; /* NUL-terminated bare JID "local@domain": the store's key */
};

struct user_table {
	struct core_user **b;
	uint32_t nb, n;
};

struct sid_table {
	struct session **b;
	uint32_t nb, n;
};

/* Creates a session for bare/resource on (l, sid) (bare: "local@domain").  Returns 0, -EEXIST when
 * the sid is taken on that link, -ENOMEM, -ENAMETOOLONG. */
int session_open(struct core *c, struct link *l, uint32_t sid, const char *bare,
		 const char *resource, const char *addr, struct session **out);
/* Moves s to sid on link `to` (a cm's or the parking one, park.c): 0,
 * -EEXIST when the sid is taken there, -ENOMEM; s is unchanged on error. */
int session_move(struct link *to, uint32_t sid, struct session *s);
/* Unlinks and frees s (and its user entry when it was the last session).
 * Presence side effects are the caller's business (presence_session_end). */
void session_free(struct core *c, struct session *s);

struct session *session_by_sid(struct link *l, uint32_t sid);
struct core_user *session_user(struct core *c, const char *bare, size_t len);
struct session *session_by_resource(struct core_user *u, const char *res, size_t len);

/* Writes "local@domain/resource" (or the bare JID) into out; returns the
 * length or -ENAMETOOLONG. */
int session_full_jid(const struct core *c, const struct session *s, char *out, size_t cap);
int session_bare_jid(const struct core *c, const struct core_user *u, char *out, size_t cap);

void session_sid_table_free(struct sid_table *t); /* table memory only */
void session_user_table_free(struct user_table *t);

#endif
