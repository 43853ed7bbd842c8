/* stats: what `starlingctl status` prints: the core's gauges and counters
 * and the latest report of every cm worker, in Prometheus' text format (one
 * "name value" or "name{label=\"..\"} value" per line), so that an operator
 * can read it or feed it to a collector as it is. */
#ifndef STARLING_CORE_STATS_H
#define STARLING_CORE_STATS_H
#include <stdint.h>

#include "lib/buf.h"
#include "lib/lathist.h"
#include "lib/wire.h"

struct core;
struct link;

/* Counters since the core started; bumped where the events happen. */
struct core_stats {
	uint64_t stanzas[4];	  /* from clients, by enum stanza_kind (1..3) */
	uint64_t deliveries;	  /* stanzas queued to a session */
	uint64_t offline_stored;  /* messages kept for an offline user */
	uint64_t returned;	  /* stanzas a cm gave back unacknowledged (XEP-0198) */
	uint64_t sessions_opened, sessions_closed;
	uint64_t cred_lookups;	  /* SASL credential requests from cms */
	uint64_t pep_published;	  /* PEP items stored (XEP-0163) */
	uint64_t caps_queries;	  /* disco#info queries for entity caps (XEP-0115) */
	uint64_t caps_unverified; /* answers not matching their ver */
	/* Stanza errors the core sent, by enum router_err (RFC 6120 §8.3.3). */
#define CORE_STANZA_ERRS 16
	uint64_t stanza_errors[CORE_STANZA_ERRS];
	/* From a link read to its frames routed and their output queued. */
	struct lathist route_latency;
};

/* A cm worker's report (WIRE_CM_STATS): kept on the link, replacing the last
 * one.  Only "name value" lines with a lowercase name are kept (the text
 * comes from a socket).  Returns 0 or -ENOMEM. */
int stats_cm_report(struct link *l, const struct wire_frame *f);
/* The cm worker links and the sessions on them (for status and /metrics). */
struct stats_cm_counts {
	uint64_t links, sessions, available;
};
void stats_cm_count(const struct core *c, struct stats_cm_counts *k);
/* Appends the whole status text to out. Returns 0 or -ENOMEM. */
int stats_render(struct core *c, struct buf *out);

#endif
