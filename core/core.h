/* core: the state of one starling-core process, shared by its modules.
 * Single-threaded: every function runs on the epoll loop in core/main.c. */
#ifndef STARLING_CORE_CORE_H
#define STARLING_CORE_CORE_H
#include <stddef.h>
#include <string.h>
#include <stdint.h>

#include "lib/wire.h"
#include "session.h"
#include "stats.h"
#include "store.h"

/* Room for local@domain/resource (RFC 7622 §3.1: 1023 octets each). */
#define CORE_JID_MAX 3200
/* Offline messages kept per account before new ones bounce. */
#define CORE_OFFLINE_MAX 1000
/* Roster items per account (RFC 6121 §2.3.3 lets a server limit it). */
#define CORE_ROSTER_MAX 2000

struct link;
struct config;
struct park;

struct core {
	const char *domain; /* the primary hosted domain, prepared */
	/* Further hosted domains (virtual hosts, [server] hosts), prepared;
	 * the strings belong to the configuration.  Accounts of every hosted
	 * domain live in one user table and one store, keyed by bare JID. */
	const char *const *hosts;
	unsigned nhosts;
	struct store *store;
	struct user_table users;
	struct link *links;  /* every open link */
	/* XEP-0198 sessions waiting for a cm to take them up (park.c): on a
	 * link of their own, never in links; NULL until the first. */
	struct link *parked;
	struct park_table {
		struct park **v; /* by the parked session's sid; NULL = free */
		uint32_t cap, n;
		uint32_t low;	  /* every sid below it is taken */
		uint64_t next_ms; /* no deadline before this (0: look now) */
		struct buf gone; /* queues of parked sessions that ended, to route */
	} parks;
	uint32_t push_seq;   /* ids of roster pushes ("push<n>") */
	/* XEP-0115 feature sets by ver (caps.c). */
	struct caps_table {
		struct caps **b; /* hash chains, NULL until the first */
		uint32_t n;	 /* entries */
		uint32_t seq;	 /* ids of the queries ("caps<n>") */
	} caps;
	int epfd;	     /* -1 in unit tests: no epoll */
	uint64_t now_ms;     /* monotonic ms, read once per loop turn */
	uint64_t read_ns;    /* monotonic ns of the link read being processed */
	/* A sampled stanza's times (cm/trace.h): set by its TRACE frame, used
	 * while its STANZA frame is routed, then cleared. */
	struct {
		uint8_t armed;
		uint32_t sid; /* of the frame it describes (0 is a session id too) */
		uint64_t t[WIRE_TRACE_MAX];
	} trace;
	unsigned max_sessions; /* per account; 0 = no limit (unit tests) */
	const struct wire_stanza *mcast; /* the stanza being multicast, or NULL */
	struct link *mc_links;		 /* links with destinations for it */
	int64_t started;     /* CLOCK_MONOTONIC seconds at start: the uptime of XEP-0012 §5 */
	struct core_stats stats;
	/* What starlingctl reload re-reads and compares with (control.c);
	 * NULL in unit tests.  Owned by main. */
	struct config *cfg;
	const char *cfg_path;
};

/* A JID split into parts without copying (the input is already prepared). */
struct jid_view {
	struct wire_str local, domain, resource; /* len 0 when absent */
	int has_local, has_resource;
};
void core_jid_split(struct wire_str jid, struct jid_view *v);
/* 1 when the domain part is one of the hosted domains. */
int core_is_local_domain(const struct core *c, struct wire_str domain);
/* The bare JID "local@domain" of a split JID that has a localpart: a view
 * into the same bytes (the user table's and the store's key). */
static inline struct wire_str core_jid_bare(const struct jid_view *v)
{
	return (struct wire_str){v->local.p,
				 (uint32_t)(v->domain.p + v->domain.len - v->local.p)};
}

static inline struct wire_str core_wstr(const char *s)
{
	struct wire_str w = {s ? s : "", 0};
	if (s)
		while (s[w.len])
			w.len++;
	return w;
}

static inline int core_wstr_eq(struct wire_str a, struct wire_str b)
{
	return a.len == b.len && (!a.len || !memcmp(a.p, b.p, a.len));
}

/* s (NUL-terminated) equals the n bytes at p, which need not be: length
 * first, so neither string is read past its end. */
static inline int core_str_eq(const char *s, const char *p, size_t n)
{
	return strnlen(s, n + 1) == n && !memcmp(s, p, n);
}

#endif
