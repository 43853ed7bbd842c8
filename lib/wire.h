/* wire: the backend link frame codec shared by starling-cm and starling-core.
 * The format is specified in docs/link-protocol.md; this file is its only
 * implementation.  Frames are length-prefixed and big-endian:
 *
 *   u32 len (whole frame incl. this header) | u8 type | u8 flags | u16 0 | u32 sid | payload
 *
 * Payload fields are u8, u32, or str (u32 length + bytes, no terminator). */
#ifndef STARLING_WIRE_H
#define STARLING_WIRE_H
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define WIRE_VERSION 9 /* 2: STANZA_MULTI; 3: CRED_REQ and REVOKE name bare JIDs; 4: STANZA_RETURN;
                          5: CRED may carry a third entry, WIRE_HASH_DIGEST_MD5;
                          6: control socket (ADMIN_REQ/REPLY, LOG_LEVEL, RELOAD), client
                          address in SESSION_OPEN, KICK close reason; 7: ACK; 8: TRACE;
                          9: SESSION_PARK, SESSION_UNPARK, SESSION_UNPARKED */
#define WIRE_HDR_LEN 12
#define WIRE_MAX_FRAME (1u << 20) /* larger than any stanza we accept */

enum wire_type {
	WIRE_HELLO = 1,		 /* u32 version, str name; both ways, first frame */
	WIRE_PING = 2,		 /* u32 token */
	WIRE_PONG = 3,		 /* u32 token */
	WIRE_CRED_REQ = 10,	 /* cm->core: str account (bare JID, localpart nodeprepped) */
	WIRE_CRED = 11,		 /* core->cm: u8 status, str account, u8 n, n x cred entry */
	WIRE_SESSION_OPEN = 20,	 /* cm->core: str full JID, str client address ("" unknown) */
	WIRE_SESSION_OPENED = 21, /* core->cm: u8 status (0 ok) */
	WIRE_SESSION_CLOSE = 22, /* both ways: u8 reason (KICK: then u8 condition) */
	WIRE_SESSION_PARK = 23,	 /* cm->core: str token, u32 seconds, XEP-0198 state (wire_park) */
	WIRE_SESSION_UNPARK = 24, /* cm->core: str bare JID, str token; sid: the asking connection */
	WIRE_SESSION_UNPARKED = 25, /* core->cm: u8 status, str full JID, XEP-0198 state */
	WIRE_STANZA = 30,	 /* both ways: routing header + stanza */
	WIRE_STANZA_MULTI = 31,	 /* core->cm (sid 0): one stanza, u32 n, n x (u32 sid, str to) */
	WIRE_STANZA_RETURN = 32, /* cm->core (sid 0): a stanza the client never acknowledged */
	WIRE_ACK = 33,		 /* both ways (sid 0): u32 stanza frames received since HELLO (linkack.h) */
	WIRE_TRACE = 34,	 /* both ways: u8 n, n x u64 CLOCK_MONOTONIC ns of the next STANZA frame */
	WIRE_FLOW = 40,		 /* u8 0 = pause, 1 = resume (link level, sid 0) */
	WIRE_LOG_LEVEL = 41,	 /* core->cm (sid 0): u8 enum log_level, for the whole process */
	WIRE_RELOAD = 42,	 /* core->cm (sid 0): reload the certificates (as SIGHUP) */
	WIRE_REVOKE = 50,	 /* admin->core: str bare JID: end its sessions (sid 0) */
	WIRE_STATS_REQ = 60,	 /* admin->core: no payload (sid 0) */
	WIRE_STATS = 61,	 /* core->admin: str text, one "name value" line per figure */
	WIRE_CM_STATS = 62,	 /* cm->core, each second: str text, lines as in STATS */
	/* Control socket only ([core] control), never the link address: */
	WIRE_ADMIN_REQ = 63,	 /* admin->core: u8 json, str verb, str arg1, str arg2 */
	WIRE_ADMIN_REPLY = 64,	 /* core->admin: u8 status (0 ok, 1 failed), str text */
};

enum wire_cred_status { WIRE_CRED_OK = 0, WIRE_CRED_NO_USER = 1, WIRE_CRED_ERROR = 2 };
/* DIGEST_MD5: stored_key is RFC 2831's H(username:realm:password), 16
 * bytes; salt and server_key empty, iter 0. */
enum wire_hash { WIRE_HASH_SHA1 = 1, WIRE_HASH_SHA256 = 2, WIRE_HASH_DIGEST_MD5 = 3 };

/* SESSION_CLOSE reasons.  Core->cm reasons map to RFC 6120 §4.9.3 stream errors. */
/* SESSION_OPENED status. */
enum wire_open_status {
	WIRE_OPEN_OK = 0,
	WIRE_OPEN_REFUSED = 1, /* unusable JID or out of memory */
	WIRE_OPEN_LIMIT = 2,   /* the account has max_sessions_per_account sessions */
};

enum wire_close_reason {
	WIRE_CLOSE_NORMAL = 0,	    /* client closed its stream */
	WIRE_CLOSE_DISCONNECT = 1,  /* connection lost without a close */
	WIRE_CLOSE_CONFLICT = 2,    /* core: a new session took the resource: <conflict/> */
	WIRE_CLOSE_SHUTDOWN = 3,    /* <system-shutdown/> */
	WIRE_CLOSE_REVOKED = 4,	    /* account deleted or password changed: <not-authorized/> */
	WIRE_CLOSE_ERROR = 5,	    /* <internal-server-error/> */
	WIRE_CLOSE_KICK = 6,	    /* starlingctl kick: u8 condition follows (wire_condition) */
};

/* RFC 6120 §4.9.3 stream error conditions, by index (the KICK condition);
 * the cm maps each name to its own stream error. */
#define WIRE_CONDITION_COUNT 25
extern const char *const wire_conditions[WIRE_CONDITION_COUNT];
/* The index of the condition named n (len bytes), or -1. */
int wire_condition(const char *n, size_t len);

struct wire_str {
	const char *p; /* not NUL-terminated; points into the frame */
	uint32_t len;
};

struct wire_frame {
	uint8_t type;
	uint8_t flags;
	uint32_t sid;
	const uint8_t *payload;
	uint32_t plen;
};

/* Routing header of a stanza frame.  xml is the stanza serialised WITHOUT its
 * from and to attributes, starting with "<message", "<presence" or "<iq"; the
 * receiver writes from/to itself (wire_stanza_render), so the core can
 * re-address a stanza (broadcasts, bare-JID delivery) without touching XML. */
struct wire_stanza {
	uint8_t kind; /* enum stanza_kind */
	uint8_t type; /* enum stanza_type */
	struct wire_str id, from, to, xml; /* none may contain NUL; xml not empty */
};

struct wire_cred_entry {
	uint8_t hash; /* enum wire_hash */
	struct wire_str salt;
	uint32_t iter;
	struct wire_str stored_key, server_key;
};
#define WIRE_MAX_CREDS 3 /* SHA-1, SHA-256 and, when the account has one, DIGEST-MD5 */

/* Parse one frame from the front of data.  Returns the frame length (>0),
 * 0 when more bytes are needed, or -EPROTO for a malformed header. */
long wire_parse(const uint8_t *data, size_t len, struct wire_frame *f);

/* Field reader: errors are sticky; check r.err once at the end. */
struct wire_reader {
	const uint8_t *p, *end;
	int err; /* 0 or -EPROTO */
};
void wire_reader_init(struct wire_reader *r, const struct wire_frame *f);
uint8_t wire_get_u8(struct wire_reader *r);
uint32_t wire_get_u32(struct wire_reader *r);
struct wire_str wire_get_str(struct wire_reader *r);

/* Frame writer appending to a buf (the link's output batch).  Errors are
 * sticky; wire_end() returns 0, -ENOMEM or -EMSGSIZE and drops the partial frame. */
struct wire_writer {
	struct buf *b;
	uint32_t start;
	int err;
};
void wire_begin(struct wire_writer *w, struct buf *b, uint8_t type, uint32_t sid);
void wire_put_u8(struct wire_writer *w, uint8_t v);
void wire_put_u32(struct wire_writer *w, uint32_t v);
void wire_put_str(struct wire_writer *w, const char *p, size_t len);
void wire_put_cstr(struct wire_writer *w, const char *s); /* NULL = empty */
int wire_end(struct wire_writer *w);

/* Typed frames. */
int wire_put_stanza(struct buf *b, uint32_t sid, const struct wire_stanza *s);
/* STANZA_RETURN: the fields of a STANZA (read back with wire_get_stanza). */
int wire_put_stanza_return(struct buf *b, const struct wire_stanza *s);
int wire_get_stanza(const struct wire_frame *f, struct wire_stanza *s);
/* STANZA_MULTI: s once for several sessions of one link.  dests holds the
 * n destinations as wire_put_dest() encoded them; a destination's empty 'to'
 * means s->to. */
int wire_put_stanza_multi(struct buf *b, const struct wire_stanza *s, uint32_t n,
			  const struct buf *dests);
int wire_put_dest(struct buf *dests, uint32_t sid, const char *to, size_t len);
/* Decodes the stanza and the count; r is left at the first destination,
 * each read with wire_get_dest (errors sticky in r->err). */
int wire_get_stanza_multi(const struct wire_frame *f, struct wire_stanza *s, uint32_t *n,
			  struct wire_reader *r);
void wire_get_dest(struct wire_reader *r, uint32_t *sid, struct wire_str *to);
/* A resumable XEP-0198 session kept by the core while no cm holds it
 * (SESSION_PARK, SESSION_UNPARKED).  q holds n STANZA_RETURN frames, the
 * stanzas sent and not acknowledged, oldest first; a decoder checks each. */
struct wire_park {
	struct wire_str jid;   /* UNPARKED: the session's full JID */
	struct wire_str token; /* PARK: the secret of the SM-ID */
	uint32_t secs;	       /* PARK: how long it may wait for its client */
	uint32_t h_in, acked, n; /* the cm's counters (cm/sm_int.h) */
	struct wire_str q;
};
/* Room a park's queue may take: the rest of a frame is a JID and numbers. */
#define WIRE_PARK_MAX_Q (WIRE_MAX_FRAME - 8192)
int wire_put_park(struct buf *b, uint32_t sid, const struct wire_park *p);
int wire_get_park(const struct wire_frame *f, struct wire_park *p);
/* status 0: p is the session; else p is ignored (it is unknown or expired). */
int wire_put_unparked(struct buf *b, uint32_t sid, uint8_t status, const struct wire_park *p);
int wire_get_unparked(const struct wire_frame *f, uint8_t *status, struct wire_park *p);
/* What a receiver can still do something with when its client never
 * acknowledged it: a message to store or give to another resource, a
 * request to answer (RFC 6120 §8.2.3). */
int wire_stanza_returnable(const struct wire_stanza *s);
int wire_put_hello(struct buf *b, const char *name);
int wire_get_hello(const struct wire_frame *f, uint32_t *version, struct wire_str *name);
/* TRACE: the times a sampled stanza passed each point so far (1..WIRE_TRACE_MAX). */
#define WIRE_TRACE_MAX 4
int wire_put_trace(struct buf *b, uint32_t sid, const uint64_t *t, unsigned n);
/* The times into t[WIRE_TRACE_MAX]: their number, or -EPROTO. */
int wire_get_trace(const struct wire_frame *f, uint64_t *t);
int wire_put_u8_frame(struct buf *b, uint8_t type, uint32_t sid, uint8_t v);
int wire_put_u32_frame(struct buf *b, uint8_t type, uint32_t sid, uint32_t v); /* PING, PONG */
int wire_put_str_frame(struct buf *b, uint8_t type, uint32_t sid, const char *s);
/* The reply echoes the username asked for, so a reply that outlived its
 * connection can never be applied to the next user of the same session id. */
int wire_put_cred(struct buf *b, uint32_t sid, uint8_t status, struct wire_str user,
		  const struct wire_cred_entry *e, unsigned n);
/* Fills up to WIRE_MAX_CREDS entries; *n receives the count. */
int wire_get_cred(const struct wire_frame *f, uint8_t *status, struct wire_str *user,
		  struct wire_cred_entry *e, unsigned *n);

/* Write the stanza for delivery: xml with from/to attributes spliced in after
 * the element name (either may be empty = omitted).  Values are escaped. */
int wire_stanza_render(struct buf *out, const struct wire_stanza *s);

/* NUL-terminated copy (malloc; caller frees) or NULL on ENOMEM. */
char *wire_strdup(struct wire_str s);
int wire_str_eq(struct wire_str s, const char *c);

#endif
