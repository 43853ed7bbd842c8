/* metrics: the cm's /metrics page (Prometheus text format 0.0.4).  Worker
 * 0 owns the listener and serves scrapes from its own io_uring (polls on
 * non-blocking sockets, lib/mhttp.c); it reads every worker's counters with
 * relaxed atomic loads, so a scrape costs the other workers nothing. */
#ifndef STARLING_CM_METRICS_H
#define STARLING_CM_METRICS_H
#include <stdint.h>

struct worker;
struct io_uring_cqe;

/* RFC 6120 §6.5 SASL error conditions, for failed logins by condition. */
enum cm_auth_cond {
	AC_ABORTED,
	AC_ACCOUNT_DISABLED,
	AC_CREDENTIALS_EXPIRED,
	AC_ENCRYPTION_REQUIRED,
	AC_INCORRECT_ENCODING,
	AC_INVALID_AUTHZID,
	AC_INVALID_MECHANISM,
	AC_MALFORMED_REQUEST,
	AC_MECHANISM_TOO_WEAK,
	AC_NOT_AUTHORIZED,
	AC_TEMPORARY_AUTH_FAILURE,
	AC_COUNT
};
/* The index of a condition's element name (unknown names count as
 * not-authorized, the generic one). */
unsigned cm_metrics_auth_cond(const char *cond);

/* Worker 0 with [c2s] metrics set: opens the listener (owned by w->metrics).
 * Returns 0 or -errno; other workers and "off" do nothing. */
int cm_metrics_init(struct worker *w);
/* Arms the listener's poll (from the worker's thread). */
void cm_metrics_start(struct worker *w);
/* A completion of OP_METRICS_ACCEPT (slot unused) or OP_METRICS_IO. */
void cm_metrics_on_cqe(struct worker *w, int accept, uint32_t gen, uint32_t slot, int res);
/* Every worker each second: samples its CPU; worker 0 ends late scrapes. */
void cm_metrics_tick(struct worker *w);
void cm_metrics_free(struct worker *w);

#endif
