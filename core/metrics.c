/* metrics: every figure read at scrape time from what the core keeps
 * anyway; the data path only bumps counters (stats.h, link.h). */
#include "metrics.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core.h"
#include "lib/lathist.h"
#include "lib/promtext.h"
#include "lib/stanza.h"
#include "link.h"
#include "router.h"
#include "store.h"

static int gauges(struct core *c, struct buf *out)
{
	struct stats_cm_counts k;
	stats_cm_count(c, &k);
	return prom_one(out, "starling_core_cm_links", "gauge",
	                "Links from cm workers (HELLO done)", k.links) ||
	       prom_one(out, "starling_core_users_online", "gauge", "Accounts with a session",
	                c->users.n) ||
	       prom_one(out, "starling_core_sessions", "gauge", "Bound resources", k.sessions) ||
	       prom_one(out, "starling_core_sessions_available", "gauge",
	                "Sessions with available presence", k.available) ||
	       prom_one(out, "starling_core_sessions_parked", "gauge",
	                "XEP-0198 sessions of stopped cms waiting to be resumed", c->parks.n) ||
	       prom_one(out, "starling_core_caps_sets", "gauge",
	                "Client feature sets known by their XEP-0115 ver", c->caps.n);
}

static int counters(struct core *c, struct buf *out)
{
	const struct core_stats *st = &c->stats;
	const char *n = "starling_core_stanzas_total";
	return prom_family(out, n, "counter", "Stanzas received from clients, by kind") ||
	       prom_sample(out, n, "kind=\"message\"", st->stanzas[STANZA_MESSAGE]) ||
	       prom_sample(out, n, "kind=\"presence\"", st->stanzas[STANZA_PRESENCE]) ||
	       prom_sample(out, n, "kind=\"iq\"", st->stanzas[STANZA_IQ]) ||
	       prom_one(out, "starling_core_deliveries_total", "counter",
	                "Stanzas queued to a session", st->deliveries) ||
	       prom_one(out, "starling_core_offline_stored_total", "counter",
	                "Messages stored for an offline user", st->offline_stored) ||
	       prom_one(out, "starling_core_returned_total", "counter",
	                "Stanzas a cm gave back unacknowledged (XEP-0198)", st->returned) ||
	       prom_one(out, "starling_core_sessions_opened_total", "counter", "Sessions opened",
	                st->sessions_opened) ||
	       prom_one(out, "starling_core_sessions_closed_total", "counter", "Sessions closed",
	                st->sessions_closed) ||
	       prom_one(out, "starling_core_credential_lookups_total", "counter",
	                "SASL credential requests from cms", st->cred_lookups) ||
	       prom_one(out, "starling_core_pep_published_total", "counter",
	                "PEP items published (XEP-0163)", st->pep_published) ||
	       prom_one(out, "starling_core_caps_queries_total", "counter",
	                "Clients asked for the features behind their caps (XEP-0115)",
	                st->caps_queries) ||
	       prom_one(out, "starling_core_caps_unverified_total", "counter",
	                "Caps answers that did not hash to their ver, kept for their session only",
	                st->caps_unverified);
}

/* One family per link figure, a sample per link labelled with its name. */
static int per_link(struct core *c, struct buf *out, const char *name, const char *type,
                    const char *help, int which)
{
	if (prom_family(out, name, type, help))
		return -ENOMEM;
	for (struct link *l = c->links; l; l = l->next) {
		char label[160];
		/* name and peer hold no character a label value must escape */
		snprintf(label, sizeof label, "link=\"%s\"", *l->name ? l->name : l->peer);
		uint64_t v = which == 0   ? l->frames_in
		             : which == 1 ? l->bytes_in
		             : which == 2 ? l->bytes_out
		             : which == 3 ? buf_avail(&l->out)
		                          : l->sids.n;
		if (prom_sample(out, name, label, v))
			return -ENOMEM;
	}
	return 0;
}

static int links(struct core *c, struct buf *out)
{
	return per_link(c, out, "starling_core_link_frames_in_total", "counter",
	                "Frames read from the link", 0) ||
	       per_link(c, out, "starling_core_link_bytes_in_total", "counter",
	                "Bytes read from the link", 1) ||
	       per_link(c, out, "starling_core_link_bytes_out_total", "counter",
	                "Bytes written to the link", 2) ||
	       per_link(c, out, "starling_core_link_queue_bytes", "gauge",
	                "Bytes queued to the link, not yet written", 3) ||
	       per_link(c, out, "starling_core_link_sessions", "gauge", "Sessions on the link", 4);
}

/* Offline messages waiting, all accounts: a count over the table, so taken
 * at most once a minute however often Prometheus scrapes. */
static int offline_waiting(struct core *c, struct buf *out)
{
	static int64_t cached = -1;
	static uint64_t taken_ms;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	if (cached < 0 || now - taken_ms >= 60000) {
		int64_t n = store_offline_total(c->store);
		if (n >= 0) {
			cached = n;
			taken_ms = now;
		}
	}
	return cached < 0 ? 0
			  : prom_one(out, "starling_core_offline_messages", "gauge",
				     "Offline messages waiting, all accounts (counted at most once a minute)",
				     (uint64_t)cached);
}

static int stanza_errors(struct core *c, struct buf *out)
{
	const char *name = "starling_core_stanza_errors_total";
	if (prom_family(out, name, "counter", "Stanza errors the core sent, by condition"))
		return -ENOMEM;
	for (unsigned e = 0; e < ROUTER_ERRS; e++) {
		char label[64];
		snprintf(label, sizeof label, "condition=\"%s\"", router_err_name((enum router_err)e));
		if (prom_sample(out, name, label, c->stats.stanza_errors[e]))
			return -ENOMEM;
	}
	return 0;
}

int core_metrics_render(void *ctx, struct buf *out)
{
	struct core *c = ctx;
	return gauges(c, out) || offline_waiting(c, out) || counters(c, out) ||
	       stanza_errors(c, out) || links(c, out) ||
	               lathist_render(out, "starling_core_route_seconds",
	                              "From a link read to its frames routed and queued",
	                              &c->stats.route_latency) ||
	               lathist_render(out, "starling_core_store_commit_seconds",
	                              "SQLite transaction commits",
	                              store_commit_latency(c->store)) ||
	               prom_process(out)
	           ? -ENOMEM
	           : 0;
}
