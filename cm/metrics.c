/* metrics: worker 0 serves /metrics; every worker keeps plain counters that
 * its own thread bumps and worker 0 reads with relaxed loads (a figure may
 * be a moment old, never torn on the 64-bit targets we build for). */
#include "metrics.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"
#include "lib/mhttp.h"
#include "lib/promtext.h"
#include "lib/stanza.h"
#include "worker.h"

static const char *const auth_cond_names[AC_COUNT] = {"aborted",
                                                      "account-disabled",
                                                      "credentials-expired",
                                                      "encryption-required",
                                                      "incorrect-encoding",
                                                      "invalid-authzid",
                                                      "invalid-mechanism",
                                                      "malformed-request",
                                                      "mechanism-too-weak",
                                                      "not-authorized",
                                                      "temporary-auth-failure"};

unsigned cm_metrics_auth_cond(const char *cond)
{
	for (unsigned i = 0; i < AC_COUNT; i++)
		if (!strcmp(cond, auth_cond_names[i]))
			return i;
	return AC_NOT_AUTHORIZED;
}

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

/* A counter or gauge family with one sample per worker: the uint64_t at
 * off in each struct worker, divided by div when div is not 0 (ns to s). */
static int per_worker_div(struct buf *out, struct worker *all, unsigned n, const char *name,
                          const char *type, const char *help, size_t off, double div)
{
	if (prom_family(out, name, type, help))
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		char label[32];
		snprintf(label, sizeof label, "worker=\"%u\"", i);
		uint64_t v = LOAD(*(uint64_t *)((char *)&all[i] + off));
		if (div ? prom_sample_f(out, name, label, (double)v / div)
		        : prom_sample(out, name, label, v))
			return -ENOMEM;
	}
	return 0;
}

#define PW(name, type, help, field)                                                                \
	per_worker_div(out, all, n, name, type, help, offsetof(struct worker, field), 0)
#define PW_SECONDS(name, type, help, field)                                                        \
	per_worker_div(out, all, n, name, type, help, offsetof(struct worker, field), 1e9)

static int connections(struct buf *out, struct worker *all, unsigned n)
{
	if (prom_family(out, "starling_cm_connections", "gauge", "Client connections open"))
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		char label[32];
		snprintf(label, sizeof label, "worker=\"%u\"", i);
		/* closed first, and clamped: relaxed loads promise no order, and a
		 * gauge must not wrap to 2^64 */
		uint64_t closed = LOAD(all[i].n_closed), accepted = LOAD(all[i].n_accepted);
		if (prom_sample(out, "starling_cm_connections", label,
		                accepted > closed ? accepted - closed : 0))
			return -ENOMEM;
	}
	return PW("starling_cm_connections_accepted_total", "counter",
	          "Client connections accepted", n_accepted) ||
	       PW("starling_cm_connections_closed_total", "counter", "Client connections closed",
	          n_closed) ||
	       PW("starling_cm_refused_per_address_total", "counter",
	          "Connections refused over [c2s] max_connections_per_address",
	          n_refused_per_address) ||
	       PW("starling_cm_read_shaped_total", "counter",
	          "Times a connection stopped reading for [c2s] read_rate", n_read_shaped) ||
	       PW("starling_cm_bytes_in_total", "counter", "Bytes read from clients (TLS included)",
	          n_bytes_in) ||
	       PW("starling_cm_bytes_out_total", "counter",
	          "Bytes written to clients (TLS included)", n_bytes_out);
}

/* A counter family summed over the workers: one sample per element of the
 * uint64_t array at offset off in struct worker, labelled key="names[i]". */
static int summed_by(struct buf *out, struct worker *all, unsigned n, const char *name,
		     const char *help, const char *key, const char *const *names, unsigned count,
		     size_t off)
{
	if (prom_family(out, name, "counter", help))
		return -ENOMEM;
	for (unsigned e = 0; e < count; e++) {
		uint64_t sum = 0;
		for (unsigned i = 0; i < n; i++)
			sum += LOAD(((const uint64_t *)((const char *)&all[i] + off))[e]);
		char label[96];
		snprintf(label, sizeof label, "%s=\"%s\"", key, names[e]);
		if (prom_sample(out, name, label, sum))
			return -ENOMEM;
	}
	return 0;
}

/* Connections that ended, by why (enum conn_close_reason; all workers). */
static int closed_by_reason(struct buf *out, struct worker *all, unsigned n)
{
	static const char *const names[CONN_CLOSE_REASONS] = {
		[CONN_CLOSE_OTHER] = "other",
		[CONN_CLOSE_CLIENT] = "client_closed",
		[CONN_CLOSE_PEER_LOST] = "peer_lost",
		[CONN_CLOSE_STREAM_ERROR] = "stream_error",
		[CONN_CLOSE_TLS_ERROR] = "tls_error",
		[CONN_CLOSE_SEND_FAILED] = "send_failed",
		[CONN_CLOSE_HANDOFF] = "resumed_elsewhere",
	};
	return summed_by(out, all, n, "starling_cm_connections_closed_by_reason_total",
			 "Client connections closed, by reason", "reason", names, CONN_CLOSE_REASONS,
			 offsetof(struct worker, n_closed_by));
}

/* Stanza errors the cm sent itself, by condition (the core's: its page). */
static int stanza_errors(struct buf *out, struct worker *all, unsigned n)
{
	return summed_by(out, all, n, "starling_cm_stanza_errors_total",
			 "Stanza errors the cm sent itself, by condition", "condition",
			 c2s_stanza_error_names, C2S_STANZA_ERRS,
			 offsetof(struct worker, n_stanza_errors));
}

/* SASL exchanges that ended, by mechanism and result (all workers summed). */
static int logins(struct buf *out, struct worker *all, unsigned n)
{
	const char *name = "starling_cm_logins_total";
	if (prom_family(out, name, "counter", "SASL logins that ended, by mechanism and result"))
		return -ENOMEM;
	for (unsigned m = 0; m < AUTH_MECHS; m++)
		for (unsigned ok = 0; ok < 2; ok++) {
			uint64_t sum = 0;
			for (unsigned i = 0; i < n; i++)
				sum += LOAD(all[i].n_logins[m][ok]);
			char label[96];
			snprintf(label, sizeof label, "mechanism=\"%s\",result=\"%s\"",
			         auth_mech_name((enum auth_mech)m), ok ? "success" : "failure");
			if (prom_sample(out, name, label, sum))
				return -ENOMEM;
		}
	return 0;
}

static int tls_and_auth(struct buf *out, struct worker *all, unsigned n)
{
	int rc =
	    PW("starling_cm_tls_started_total", "counter",
	       "TLS sessions started (STARTTLS or direct TLS)", n_tls_started) ||
	    PW("starling_cm_tls_handshake_failures_total", "counter", "TLS handshakes failed",
	       n_tls_handshake_failed) ||
	    PW("starling_cm_tls_errors_total", "counter", "TLS errors after the handshake",
	       n_tls_errors) ||
	    PW("starling_cm_tls_lean_connections", "gauge",
	       "TLS 1.3 connections whose records the cm carries without OpenSSL ([tls] lean_records)",
	       n_tls_lean) ||
	    PW("starling_cm_auth_success_total", "counter", "SASL logins that succeeded",
	       n_auth_ok) ||
	    PW("starling_cm_auth_sasl2_total", "counter",
	       "SASL logins that succeeded through SASL2 (XEP-0388)", n_auth_sasl2) ||
	    PW("starling_cm_auth_failures_total", "counter", "SASL <failure/>s sent",
	       n_auth_failed) ||
	    PW("starling_cm_auth_throttled_address_total", "counter",
	       "Logins refused over [c2s] auth_failures_per_address", n_auth_throttled_address) ||
	    PW("starling_cm_auth_throttled_account_total", "counter",
	       "Logins refused over [c2s] auth_failures_per_account", n_auth_throttled_account);
	if (rc || logins(out, all, n))
		return -ENOMEM;
	return summed_by(out, all, n, "starling_cm_auth_failures_by_condition_total",
			 "SASL <failure/>s by condition (RFC 6120 6.5)", "condition",
			 auth_cond_names, AC_COUNT, offsetof(struct worker, n_auth_failures));
}

/* A family of uint64_t[4] counters by enum stanza_kind, per worker and kind. */
static int by_kind(struct buf *out, struct worker *all, unsigned n, const char *name,
                   const char *help, size_t off)
{
	if (prom_family(out, name, "counter", help))
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++)
		for (unsigned k = STANZA_MESSAGE; k <= STANZA_IQ; k++) {
			char label[64];
			snprintf(label, sizeof label, "worker=\"%u\",kind=\"%s\"", i,
			         stanza_kind_name((enum stanza_kind)k));
			const uint64_t *v = (const uint64_t *)((const char *)&all[i] + off);
			if (prom_sample(out, name, label, LOAD(v[k])))
				return -ENOMEM;
		}
	return 0;
}

static int stanzas_and_errors(struct buf *out, struct worker *all, unsigned n)
{
	if (by_kind(out, all, n, "starling_cm_stanzas_in_total", "Stanzas from clients to the core",
	            offsetof(struct worker, n_stanzas_in)) ||
	    by_kind(out, all, n, "starling_cm_stanzas_out_total",
	            "Stanzas from the core to clients", offsetof(struct worker, n_stanzas_out)))
		return -ENOMEM;
	const char *names[SE_COUNT];
	for (int e = 0; e < SE_COUNT; e++)
		names[e] = c2s_stream_error_name((enum c2s_stream_error)e);
	return summed_by(out, all, n, "starling_cm_stream_errors_total",
			 "Stream errors sent, by condition (RFC 6120 4.9.3)", "condition", names,
			 SE_COUNT, offsetof(struct worker, n_stream_errors));
}

static int ring_and_cpu(struct buf *out, struct worker *all, unsigned n)
{
	if (PW("starling_cm_uring_submissions_total", "counter", "SQEs submitted", n_sqes) ||
	    PW("starling_cm_uring_completions_total", "counter", "CQEs reaped", n_cqes) ||
	    PW("starling_cm_batched_waits_total", "counter",
	       "Waits that gathered completions for [c2s] batch_wait_us", n_batched_waits) ||
	    PW("starling_cm_uring_sq_full_total", "counter",
	       "Times the submission queue was full and had to be submitted early", n_sq_full) ||
	    PW_SECONDS("starling_cm_worker_cpu_seconds_total", "counter",
	               "CPU time of the worker thread, sampled each second", cpu_ns) ||
	    PW_SECONDS("starling_cm_link_rtt_seconds", "gauge",
	               "Round trip of the last PING to the core (its loop included)", link.rtt_ns) ||
	    PW("starling_cm_link_queue_bytes", "gauge", "Bytes queued to the core, sampled each second",
	       link_queued))
		return -ENOMEM;
	return 0;
}

/* The sampled stanzas' path, hop by hop, all workers together (trace.h). */
static int hops(struct buf *out, struct worker *all, unsigned n)
{
	static const char name[] = "starling_cm_hop_seconds";
	if (prom_family(out, name, "histogram",
			"Time a sampled client stanza spent in each hop from its cm to its "
			"recipient's ([c2s] trace_sample)"))
		return -ENOMEM;
	for (unsigned h = 0; h < HOP_COUNT; h++) {
		struct lathist sum = {0};
		for (unsigned i = 0; i < n; i++)
			lathist_add(&sum, &all[i].trace.hop[h]);
		char label[40];
		snprintf(label, sizeof label, "hop=\"%s\"", trace_hop_names[h]);
		if (lathist_render_series(out, name, label, &sum))
			return -ENOMEM;
	}
	return 0;
}

static int render(void *ctx, struct buf *out)
{
	struct worker *w = ctx;
	struct worker *all = w->all ? w->all : w;
	unsigned n = w->all ? w->n_all : 1;
	return connections(out, all, n) || closed_by_reason(out, all, n) ||
	               stanza_errors(out, all, n) || tls_and_auth(out, all, n) ||
	               stanzas_and_errors(out, all, n) || ring_and_cpu(out, all, n) ||
	               hops(out, all, n) ||
	               prom_one(out, "starling_metrics_requests_total", "counter",
	                        "Scrapes answered by this endpoint", w->metrics->n_requests) ||
	               prom_process(out)
	           ? -ENOMEM
	           : 0;
}

int cm_metrics_init(struct worker *w)
{
	if (w->id || !*w->cfg->c2s_metrics)
		return 0;
	w->metrics = malloc(sizeof *w->metrics); /* owned by w; cm_metrics_free */
	if (!w->metrics)
		return -ENOMEM;
	int rc = mhttp_open(w->metrics, w->cfg->c2s_metrics, render, w);
	if (rc) {
		log_error("[c2s] metrics %s: %s", w->cfg->c2s_metrics, strerror(-rc));
		free(w->metrics);
		w->metrics = NULL;
	}
	return rc;
}

static void arm(struct worker *w, int fd, unsigned events, uint64_t udata)
{
	struct io_uring_sqe *sqe = worker_sqe(w);
	io_uring_prep_poll_add(sqe, fd, events);
	io_uring_sqe_set_data64(sqe, udata);
}

void cm_metrics_start(struct worker *w)
{
	if (w->metrics)
		arm(w, w->metrics->lfd, POLLIN, worker_udata(OP_METRICS_ACCEPT, 0, 0));
}

void cm_metrics_on_cqe(struct worker *w, int accept, uint32_t gen, uint32_t slot, int res)
{
	struct mhttp *m = w->metrics;
	if (!m || w->stop)
		return;
	if (accept) {
		unsigned opened = mhttp_accept(m, w->now_ms);
		for (unsigned i = 0; i < MHTTP_MAX_CONNS; i++)
			if (opened >> i & 1)
				arm(w, m->c[i].fd, POLLIN,
				    worker_udata(OP_METRICS_IO, m->c[i].gen, i));
		if (!m->accept_failed) /* else the tick re-arms it */
			arm(w, m->lfd, POLLIN, worker_udata(OP_METRICS_ACCEPT, 0, 0));
		return;
	}
	(void)res; /* the poll's events: mhttp_step finds out by reading */
	if (slot >= MHTTP_MAX_CONNS || m->c[slot].fd < 0 || (m->c[slot].gen & 0xffffff) != gen)
		return; /* that connection is gone (its poll ended with the shutdown) */
	unsigned want = mhttp_step(m, slot, w->now_ms);
	if (want)
		arm(w, m->c[slot].fd, want, worker_udata(OP_METRICS_IO, m->c[slot].gen, slot));
}

void cm_metrics_tick(struct worker *w)
{
	struct timespec t;
	if (!clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t))
		__atomic_store_n(&w->cpu_ns, (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec,
		                 __ATOMIC_RELAXED);
	/* Sampled here by the owner: another thread reading the buffer's two
	 * offsets could see them mid-update. */
	__atomic_store_n(&w->link_queued, buf_avail(&w->link.out) + buf_avail(&w->link.sending),
	                 __ATOMIC_RELAXED);
	if (!w->metrics)
		return;
	mhttp_expire(w->metrics, w->now_ms);
	if (w->metrics->accept_failed) {
		w->metrics->accept_failed = 0;
		cm_metrics_start(w);
	}
}

void cm_metrics_free(struct worker *w)
{
	if (!w->metrics)
		return;
	mhttp_close(w->metrics);
	free(w->metrics);
	w->metrics = NULL;
}
