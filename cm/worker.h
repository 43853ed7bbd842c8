/* worker: one thread, one io_uring, its listening sockets, its connections
 * and its own link to the core.  Workers share nothing but the read-only
 * configuration and TLS context. */
#ifndef STARLING_CM_WORKER_H
#define STARLING_CM_WORKER_H
#include <liburing.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdint.h>

#include "cm/auth.h"
#include "cm/c2s.h"
#include "cm/conn.h"
#include "cm/metrics.h"
#include "cm/trace.h"
#include "lib/bufring.h"
#include "lib/config.h"
#include "tls/server.h"
#include "tls/tls.h"
#include "uplink.h"

/* user_data of every submission: op | generation | slot. */
enum worker_op {
	OP_ACCEPT = 1,	/* slot = listener index */
	OP_RECV,	/* multishot recv of a client */
	OP_SEND,	/* send of a client's queue */
	OP_LINK_RECV,
	OP_LINK_SEND,
	OP_TICK,	/* one-second timer */
	OP_WAKE,	/* eventfd read: the main thread asks us to stop */
	OP_CANCEL,	/* completion of a cancel request: nothing to do */
	OP_METRICS_ACCEPT, /* poll of the /metrics listener (worker 0, metrics.c) */
	OP_METRICS_IO,	/* poll of a scrape connection: slot = its index */
	/* The rest carry a pointer in the low 56 bits instead of gen | slot. */
	OP_HANDOFF,	/* a transport sent to us by a worker (handoff.c) */
	OP_HANDOFF_SENT, /* our message with a transport to a worker completed */
};

#define WORKER_BUF_GROUP 1
#define WORKER_MAX_LISTENERS 2

struct worker_listener {
	int fd;
	int direct_tls;
	int armed;  /* a multishot accept is outstanding */
};

struct throttle;
struct handoff;
struct connlimit;
struct acctlimit;
struct mhttp;

/* Answers to <r/> waiting for the core's acknowledgement (cm/sm_reply.c). */
struct sm_reply {
	uint32_t sid, need, h;
};
struct sm_replies {
	struct sm_reply *v; /* owned; v[head..n) wait, oldest first */
	uint32_t head, n, cap;
};

struct worker {
	unsigned id;
	pthread_t thread;
	/* Every worker of the process (set before any starts): resumption
	 * hands a connection to the worker holding its session. */
	struct worker *all;
	unsigned n_all;
	int ready; /* its ring accepts messages (atomic) */
	struct handoff *handoffs; /* transports leaving this worker, not yet taken */
	const struct config *cfg;
	/* The TLS context for new connections: main's, swapped by a SIGHUP
	 * reload; this worker's reference and its generation (worker_tls_ctx). */
	struct tls_current *tls;
	SSL_CTX *tls_ctx;
	unsigned tls_gen;
	struct io_uring ring;
	struct bufring rx; /* provided receive buffers; idle conns own none */
	struct worker_listener listeners[WORKER_MAX_LISTENERS];
	unsigned n_listeners;
	int wake_fd;
	uint64_t wake_val;
	struct __kernel_timespec tick;
	volatile int stop;
	uint64_t now_ms;
	uint64_t turn_ns; /* monotonic ns when this loop turn woke: its input's arrival */
	unsigned batch_wait_us; /* [c2s] batch_wait_us when the kernel has it, else 0 */
	unsigned last_cqes;	/* completions the previous turn handled */
	struct sm_replies sm_replies;

	/* connections */
	struct conn *slots;
	uint32_t *free_slots;
	uint32_t n_free, max_slots;
	uint32_t flush_head; /* slot + 1 of the first conn to flush, 0 = none */
	struct conn_timer_list timers[CONN_TIMER_LISTS];
	/* Backpressure: while the link to the core is backed up, connections that
	 * deliver input stop reading; their sids wait here for the resume. */
	int link_paused;
	uint32_t *paused;
	uint32_t n_paused, cap_paused;

	struct tls_io tio; /* shared by every SSL of this worker: one thread */
	char plain[16384]; /* decrypted bytes before framing */
	struct uplink link;
	struct cm_trace trace; /* sampled stanzas' hop times (trace.h) */

	/* counters for logs and `starlingctl status` (sent to the core each tick) */
	uint64_t n_accepted, n_closed;
	uint64_t n_closed_by[CONN_CLOSE_REASONS]; /* enum conn_close_reason */
	uint64_t n_stanza_errors[C2S_STANZA_ERRS]; /* by c2s_stanza_error_index() */
	uint64_t n_auth_ok, n_auth_failed;
	uint64_t n_auth_sasl2; /* of n_auth_ok, through SASL2 (XEP-0388) */
	/* client -> core, core -> client; by enum stanza_kind (0 never counted) */
	uint64_t n_stanzas_in[4], n_stanzas_out[4];
	uint64_t n_refused; /* since the last tick: the table was full */
	struct throttle *throttle; /* failed logins by address (throttle.c); NULL until one */
	/* Shared by every worker, owned by main; NULL when the limit is off. */
	struct connlimit *connlimit; /* connections per address (connlimit.c) */
	struct acctlimit *acctlimit; /* failed logins per account (acctlimit.c) */
	/* Read-rate shaping: connections over [c2s] read_rate wait here (their
	 * sids) for the tick that finds their bucket refilled. */
	uint32_t *shaped;
	uint32_t n_shaped, cap_shaped;
	/* Breaches of the limits, for `starlingctl status` (docs/configuration.md) */
	uint64_t n_refused_per_address; /* over max_connections_per_address */
	uint64_t n_auth_throttled_address, n_auth_throttled_account;
	uint64_t n_read_shaped; /* times a connection was stopped for read_rate */
	uint64_t n_stream_errors[SE_COUNT]; /* sent, by condition */
	/* For /metrics (metrics.c): read by worker 0 with relaxed loads. */
	uint64_t n_auth_failures[AC_COUNT]; /* SASL <failure/>s by condition */
	uint64_t n_logins[AUTH_MECHS][2];   /* by mechanism: [0] failed, [1] succeeded */
	uint64_t n_bytes_in, n_bytes_out;   /* socket bytes, TLS records included */
	uint64_t n_tls_started, n_tls_handshake_failed, n_tls_errors;
	uint64_t n_tls_lean; /* gauge: connections on tls/lean.h's records now */
	uint64_t n_sqes, n_cqes, n_sq_full; /* submitted, reaped, worker_sqe found it full */
	uint64_t n_batched_waits;	/* waits that gathered completions (batch_wait_us) */
	uint64_t cpu_ns;		    /* this thread's CPU time at the last tick */
	uint64_t link_queued;		    /* bytes queued to the core at the last tick */
	struct mhttp *metrics;		    /* worker 0's /metrics server, or NULL */
};

int worker_init(struct worker *w, unsigned id, const struct config *cfg, struct tls_current *tls);
void *worker_main(void *arg);
void worker_free(struct worker *w);
/* Get an SQE, submitting first when the queue is full. Never NULL. */
struct io_uring_sqe *worker_sqe(struct worker *w);
void worker_wake(struct worker *w);
/* Arm the multishot receive of a connection (provided buffers). */
void worker_arm_recv(struct worker *w, struct conn *c);
/* Cancel the multishot receive of a connection (it completes -ECANCELED). */
void worker_cancel_recv(struct worker *w, struct conn *c);
/* The link drained: re-arm every connection paused for backpressure. */
void worker_resume_reading(struct worker *w);

/* Connections the worker holds; relaxed loads, so main may read it too. */
static inline uint64_t worker_live(struct worker *w)
{
	return __atomic_load_n(&w->n_accepted, __ATOMIC_RELAXED) -
	       __atomic_load_n(&w->n_closed, __ATOMIC_RELAXED);
}

/* The context a new TLS connection starts with: the reloaded one, once a
 * reload has happened. */
static inline SSL_CTX *worker_tls_ctx(struct worker *w)
{
	return tls_current_get(w->tls, &w->tls_ctx, &w->tls_gen);
}

static inline uint64_t worker_udata(enum worker_op op, uint32_t gen, uint32_t slot)
{
	return (uint64_t)op << 56 | (uint64_t)(gen & 0xffffff) << 32 | slot;
}

#endif
