/* handoff: moves a client's transport (socket, TLS state, framer, bytes in
 * flight) out of one connection slot and into another, possibly on another
 * worker's thread.  Stream resumption (XEP-0198 §5, sm_resume.c) needs it:
 * the client's new TCP connection lands on whichever worker the kernel picks
 * (SO_REUSEPORT), while the session it resumes lives in a slot of one worker,
 * whose link the core knows it by.  Moving the transport to the session keeps
 * the core out of it: the session never changes its link or sid.
 *
 * The source slot stops reading (its multishot recv is cancelled), and once
 * nothing names it in the ring any more conn.c releases it into the handoff,
 * which travels to the target worker as an IORING_OP_MSG_RING completion. */
#ifndef STARLING_CM_HANDOFF_H
#define STARLING_CM_HANDOFF_H
#include <openssl/ssl.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/xstream.h"
#include "tls/lean.h"

struct worker;
struct conn;
struct connlimit;
struct connlimit_addr;

#define HANDOFF_TOKEN_HEX 32

/* Owned by whoever holds it: the source worker's list, then the ring
 * message, then the target worker until attached or freed. */
struct handoff {
	int fd;		     /* -1 until taken from the source slot */
	SSL *ssl;	     /* NULL on a plain connection */
	struct tls_lean *lean; /* instead of ssl after a lean takeover */
	struct xs_framer xs; /* inside the stream, between elements */
	struct buf out;	     /* bytes still to send (ciphertext under TLS) */
	struct buf in;	     /* bytes received after the request (ciphertext under TLS) */
	uint16_t flags;	     /* the source's CONN_TLS | CONN_DIRECT_TLS */
	uint8_t host;	     /* the stream's hosted domain */
	char *jid;	     /* the authenticated bare JID */
	/* The connection's count per source address (connlimit.c) goes with it. */
	struct connlimit *limits;
	struct connlimit_addr *peer;
	/* the request: the session's sid on the target, the client's count */
	uint32_t sid, h;
	char token[HANDOFF_TOKEN_HEX + 1];
	unsigned target, source;	 /* worker ids */
	uint32_t src_slot, src_gen;	 /* while the source drains */
	struct handoff *next;		 /* source worker's list */
};

/* Starts moving c's transport to worker `target` with request h (malloc'd
 * by the caller, request fields set; owned by the handoff from here on).
 * c stops reading and is dead to everyone else at once. */
void handoff_start(struct worker *w, struct conn *c, struct handoff *h);
/* Bytes that arrived for c after the request: they travel along. */
void handoff_carry(struct worker *w, struct conn *c, const void *p, size_t n);
/* conn.c, releasing a slot flagged CONN_HANDOFF: take its transport and
 * send the handoff to its target. */
void handoff_take(struct worker *w, struct conn *c);
/* The source's copy of the ring message completed with res. */
void handoff_sent(struct worker *w, struct handoff *h, int res);
/* Installs h's transport in c (a slot without one) and starts reading;
 * h->in is left for handoff_finish. */
void handoff_attach(struct worker *w, struct conn *c, struct handoff *h);
/* A fresh slot for h's transport, authenticated but unbound; NULL (and h
 * freed) when the table is full. */
struct conn *handoff_new_conn(struct worker *w, struct handoff *h);
/* Feeds what h carried to c, then frees h (without its transport). */
void handoff_finish(struct worker *w, struct conn *c, struct handoff *h);
/* Frees h with whatever transport it still holds (closing the socket). */
void handoff_free(struct handoff *h);

#endif
