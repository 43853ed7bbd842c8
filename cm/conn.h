/* conn: one client connection of a worker -- its slot, its send queue and its
 * lifetime.  Slots are preallocated per worker and reused; a completion that
 * names a slot with an older generation belongs to a dead connection and is
 * dropped.  A connection is freed only once its in-flight operations reach
 * zero, so no handler ever frees the object under its own caller. */
#ifndef STARLING_CM_CONN_H
#define STARLING_CM_CONN_H
#include <openssl/ssl.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/xstream.h"
#include "tls/lean.h"

struct worker;
struct auth_state;
struct csi_hold;
struct sm_state;
struct connlimit_addr;

enum c2s_state {
	C2S_WAIT_HEADER,  /* before the client's stream header */
	C2S_OPEN,	  /* header answered, features sent, negotiating or bound */
	C2S_AUTH_WAIT,	  /* SASL waiting for the user's credentials from the core */
	C2S_CLOSING,	  /* our close is queued; draining the send queue */
};

enum conn_flags {
	CONN_TLS = 1 << 0,	   /* TLS established (STARTTLS or direct) */
	CONN_AUTHED = 1 << 1,	   /* SASL succeeded */
	CONN_BOUND = 1 << 2,	   /* resource bound: a session exists in the core */
	CONN_HEADER_SENT = 1 << 3, /* our stream header is out */
	CONN_RECV_ARMED = 1 << 4,  /* a multishot recv is outstanding */
	CONN_SENDING = 1 << 5,	   /* a send is in flight (conn->sending is frozen) */
	CONN_DEAD = 1 << 6,	   /* shut down; waiting for in-flight ops to drain */
	CONN_CLIENT_CLOSED = 1 << 7, /* client sent </stream:stream> */
	CONN_IN_FLUSH = 1 << 8,	   /* on the worker's flush list */
	CONN_DIRECT_TLS = 1 << 9,  /* accepted on the direct TLS port (XEP-0368) */
	CONN_PAUSED = 1 << 10,	   /* not reading: the link to the core is backed up */
	CONN_INPUT_DONE = 1 << 11, /* the client half-closed; drain our output only */
	CONN_INACTIVE = 1 << 12,   /* said <inactive/> (XEP-0352): presence is held */
	CONN_DETACHED = 1 << 13,   /* no transport: the session waits for a resumption (sm_resume.c) */
	CONN_HANDOFF = 1 << 14,	   /* dead here: its transport goes to another slot (handoff.c) */
	CONN_SHAPED = 1 << 15,	   /* not reading: over [c2s] read_rate until refilled */
	CONN_WR_SHUT = 1 << 16,	   /* closing: our half is shut, reading until the client's */
	CONN_SASL2 = 1 << 17,	   /* SASL runs in XEP-0388's elements (sasl2.h) */
	CONN_CARBONS_ASKED = 1 << 18, /* c2s_enable_carbons' answer is due from the core */
};

/* Timer lists.  Every member of one list has the same timeout, so appending
 * keeps a list in deadline order and a tick only looks at its head. */
enum conn_timer {
	CONN_TIMER_NONE = 0,
	CONN_TIMER_LOGIN = 1,	/* must authenticate and bind by the deadline */
	CONN_TIMER_CLOSING = 2, /* our close is queued: drain by then, or be cut */
	CONN_TIMER_IDLE = 3,	/* bound: pinged when silent until the deadline */
	CONN_TIMER_PING = 4,	/* pinged: must send something by the deadline */
	CONN_TIMER_RESUME = 5,	/* detached: must be resumed by the deadline */
};
#define CONN_TIMER_LISTS 6
#define CONN_CLOSE_GRACE_MS 10000

/* Why a connection ended, for starling_cm_connections_closed_total by
 * reason (cm/metrics.c); the first cause set wins. */
enum conn_close_reason {
	CONN_CLOSE_OTHER = 0,	    /* nothing more specific (server shutdown, limits at accept) */
	CONN_CLOSE_CLIENT,	    /* the client's </stream:stream> */
	CONN_CLOSE_PEER_LOST,	    /* EOF or reset without a closing tag */
	CONN_CLOSE_STREAM_ERROR,    /* a stream error of ours (by condition: stream_errors) */
	CONN_CLOSE_TLS_ERROR,	    /* a fatal TLS error */
	CONN_CLOSE_SEND_FAILED,	    /* a write failed, or the client let too much pile up */
	CONN_CLOSE_HANDOFF,	    /* its transport went to a resumed session (sm_resume.c) */
	CONN_CLOSE_REASONS
};

struct conn_timer_list {
	uint32_t head, tail; /* slot + 1; 0 = empty */
};

struct conn {
	int fd;
	uint32_t gen;	   /* bumped when the slot is freed */
	uint32_t sid;	   /* link session id: slot | gen << CONN_SLOT_BITS */
	uint32_t flags;    /* enum conn_flags */
	uint8_t state;	   /* enum c2s_state */
	uint8_t sasl_attempts; /* <auth/> elements seen: bounded, RFC 6120 §6.4.5 */
	uint8_t timer;	       /* enum conn_timer: the list this conn is on */
	/* The hosted domain the stream is for (its header's 'to'): 0 the
	 * primary domain, i + 1 the config's hosts[i] (c2s_domain). */
	uint8_t host;
	uint16_t inflight; /* io_uring operations that still name this slot */
	uint8_t close_reason; /* enum conn_close_reason, 0 until one is known */
	uint32_t next_flush; /* worker flush list link (slot + 1, 0 = end) */
	SSL *ssl;	     /* owned; NULL before TLS and once lean */
	/* owned: TLS 1.3 records without OpenSSL (tls/lean.h).  Set with ssl
	 * during a handshake that may take over, alone after it did. */
	struct tls_lean *lean;
	struct auth_state *auth; /* owned; only while SASL is in progress */
	struct csi_hold *csi;	 /* owned; presence held while inactive (csi.c), else NULL */
	struct sm_state *sm;	 /* owned; XEP-0198 once enabled (sm.c), else NULL */
	char *jid;	     /* owned: bare JID after SASL, full JID after bind */
	/* owned: the client's last available presence broadcast as sent to the
	 * core (no from/to), or NULL: told again to a core that restarted
	 * (c2s_announce).  Held only by available sessions. */
	struct buf presence;
	struct buf plain;    /* TLS only: plaintext of this turn, encrypted at flush */
	struct buf out;	     /* bytes queued for the client (ciphertext under TLS) */
	struct buf sending;  /* bytes handed to the kernel; frozen while CONN_SENDING */
	struct xs_framer xs;
	uint32_t timer_prev, timer_next; /* timer list links (slot + 1, 0 = none) */
	uint64_t deadline_ms;		 /* of the timer list it is on */
	struct connlimit_addr *peer; /* counted in w->connlimit, or NULL */
	/* Read-rate token bucket ([c2s] read_rate): bytes it may still read,
	 * negative when over, as of rx_stamp (w->now_ms, truncated). */
	int32_t rx_tokens;
	uint32_t rx_stamp;
};

#define CONN_SLOT_BITS 20
#define CONN_MAX_SLOTS (1u << CONN_SLOT_BITS)
#define CONN_MAX_QUEUED (4u << 20) /* a client that lets more pile up is dropped */

static inline uint32_t conn_slot_of_sid(uint32_t sid) { return sid & (CONN_MAX_SLOTS - 1); }

static inline void conn_set_close_reason(struct conn *c, enum conn_close_reason r)
{
	if (!c->close_reason)
		c->close_reason = (uint8_t)r;
}

/* Whether the connection's bytes are TLS records (plaintext is queued in
 * c->plain and sealed at flush). */
static inline int conn_tls(const struct conn *c) { return c->ssl || c->lean; }
/* Free c's TLS state, the lean one counted off its worker's gauge. */
void conn_tls_free(struct worker *w, struct conn *c);

/* Slot table. */
int conn_table_init(struct worker *w, uint32_t max);
void conn_table_free(struct worker *w);
struct conn *conn_alloc(struct worker *w, int fd); /* NULL when full */
/* The connection for a link session id, or NULL if its slot was released.
 * It may be dying (CONN_DEAD) or detached (sm_resume.c): callers check. */
struct conn *conn_by_sid(struct worker *w, uint32_t sid);
uint32_t conn_slot(struct worker *w, const struct conn *c);

/* Queue plaintext for the client (encrypting when TLS is on) and schedule a
 * flush at the end of the loop turn. Returns 0 or -errno. */
int conn_send(struct worker *w, struct conn *c, const char *data, size_t len);
int conn_send_str(struct worker *w, struct conn *c, const char *s);
/* Encrypt the turn's plaintext into out now rather than at the flush.
 * 0, or -errno (the conn is killed). */
int conn_encrypt(struct worker *w, struct conn *c);
/* Bytes queued for the client and not yet taken by the kernel. */
static inline size_t conn_queued(const struct conn *c)
{
	return buf_avail(&c->plain) + buf_avail(&c->out) + buf_avail(&c->sending);
}
void conn_schedule_flush(struct worker *w, struct conn *c);
/* Stop reading, let the queue drain, then close.  Safe to call twice. */
void conn_close(struct worker *w, struct conn *c);
/* Abort now: shut the socket; the slot is freed when in-flight ops end. */
void conn_kill(struct worker *w, struct conn *c);
/* Called when an operation naming c completes; frees the slot when c is dead
 * and nothing is in flight any more. */
void conn_op_done(struct worker *w, struct conn *c);
/* Start sends and release dead slots; once per loop turn, before submit. */
void conn_flush_all(struct worker *w);
void conn_on_send(struct worker *w, struct conn *c, int res);
/* Put c on a timer list (leaving any other) with deadline now + timeout. */
void conn_timer_set(struct worker *w, struct conn *c, enum conn_timer list, uint64_t timeout_ms);
void conn_timer_clear(struct worker *w, struct conn *c);
/* Called once a second: handles every connection whose deadline passed. */
void conn_timers_run(struct worker *w);

#endif
