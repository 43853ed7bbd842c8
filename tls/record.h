/* record: a lean TLS 1.3 record layer (RFC 8446 §5) that takes a client
 * connection over from OpenSSL once the handshake is done, so that the SSL
 * object (about 17 KB per connection with OpenSSL 3.0: the SSL struct, two
 * cipher contexts, the session and the server's certificate) can be freed.
 *
 * For starling-bench, which must cost far less memory per connection than
 * the servers it measures (issue 3): OpenSSL still does the handshake and
 * all cryptography; this module only frames records and keeps the traffic
 * keys, about 200 bytes, with no heap while a connection is idle.  Cipher
 * contexts are per thread: a bounded cache of contexts keyed for the keys
 * the thread used last (128 a direction), found by the key itself.
 *
 * The traffic secrets come from OpenSSL's key log callback (the interface
 * SSLKEYLOGFILE uses): rec_capture_secrets() installs it on a client
 * context, and a connection's SSL must carry its struct rec_state as app data
 * (SSL_set_app_data) through the handshake.  The handshake must be driven with
 * tls_handshake(), which stops exactly after the server's Finished, so that
 * no record under the application keys has been read by OpenSSL yet. */
#ifndef STARLING_TLS_RECORD_H
#define STARLING_TLS_RECORD_H
#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/buf.h"

#define REC_SECRET_MAX 48 /* SHA-384 */

struct rec_dir {
	uint64_t seq;			/* RFC 8446 §5.3: per-key record counter */
	uint8_t secret[REC_SECRET_MAX]; /* application traffic secret (for KeyUpdate) */
	uint8_t key[32];
	uint8_t iv[12];
};

struct rec_state {
	struct rec_dir rd, wr;
	uint8_t suite;	     /* enum rec_suite, 0 before rec_start() */
	uint8_t hash_len;    /* 32 or 48 */
	uint8_t have_secrets; /* bit 0: client secret seen, bit 1: server secret */
	uint8_t closed;	     /* close_notify sent; nothing more may be written */
	uint8_t is_server;   /* our side: the server (reads the client's secret) */
	uint32_t part_len;   /* bytes of an incomplete record held in part */
	uint8_t *part;	     /* malloc'd only while a record is incomplete */
};

/* Install the key log callback on a client context (once, before SSL_new). */
void rec_capture_secrets(SSL_CTX *ctx);

/* Whether ctx has the key log callback rec_capture_secrets() installs. */
int rec_captures_secrets(SSL_CTX *ctx);

/* Take over from ssl after a completed TLS 1.3 handshake (client or
 * server, whose directions the key log callback swaps): derive the
 * keys (RFC 8446 §7.3).  The caller then frees ssl.  Returns 0, -EPROTONOSUPPORT
 * when the connection is not TLS 1.3 or uses a cipher suite this module does
 * not implement (the caller keeps using OpenSSL), or -EPROTO when the secrets
 * were not captured. */
int rec_start(struct rec_state *st, SSL *ssl);

/* Set the keys from the two application traffic secrets (hash_len bytes
 * each) for cipher suite suite_id (0x1301, 0x1302 or 0x1303, RFC 8446
 * §B.4).  rec_start() uses it; tests and fuzzing call it directly.  Returns
 * 0, -EPROTONOSUPPORT for another suite, or -EPROTO. */
int rec_set_secrets(struct rec_state *st, unsigned suite_id, const uint8_t *write_secret,
		    const uint8_t *read_secret, size_t hash_len);

/* Called with each run of application data, in order.  Returns 0 to go on,
 * or a negative errno to stop reading (rec_read returns it). */
typedef int (*rec_deliver_fn)(void *arg, const char *data, size_t len);

/* Consume len ciphertext bytes: whole records are decrypted and delivered,
 * a trailing partial record is kept.  Post-handshake messages are handled
 * (NewSessionTicket ignored; KeyUpdate rotates the read key and, when
 * asked, answers into out, RFC 8446 §4.6.3).  Returns 0, -ECONNRESET on the
 * server's close_notify, -EPROTO on a bad record, an alert or an unsupported
 * message, -ENOMEM, or the deliver callback's non-zero result.  With
 * is_server set, the peer's close_notify is the client's and a ticket from
 * it is an error. */
int rec_read(struct rec_state *st, const uint8_t *in, size_t len, struct buf *out,
	     rec_deliver_fn deliver, void *arg);
/* As rec_read, and *used (if not NULL) is set to the bytes consumed: all of
 * len on 0, else through the record whose opening failed or stopped, so the
 * bytes after it can be read later (or carried elsewhere) with this state. */
int rec_read_n(struct rec_state *st, const uint8_t *in, size_t len, struct buf *out,
	       rec_deliver_fn deliver, void *arg, size_t *used);
/* Encrypt len bytes of application data into out, in records of at most
 * 16 KiB.  Returns 0, -EPIPE after rec_close(), -ENOMEM or -EPROTO. */
int rec_write(struct rec_state *st, const void *data, size_t len, struct buf *out);
/* Queue close_notify (RFC 8446 §6.1). Returns as rec_write. */
int rec_close(struct rec_state *st, struct buf *out);
/* Seal a raw TLSInnerPlaintext (content, type byte, zero padding) as one
 * record: for tests and fuzzing, which play the server with a copy of a
 * client's state whose directions are swapped.  Returns 0, -EINVAL when it
 * does not fit one record, -ENOMEM or -EPROTO. */
int rec_seal_inner(struct rec_state *st, const uint8_t *inner, size_t n, struct buf *out);
/* Queue a fatal alert (RFC 8446 §6.2, e.g. 20 bad_record_mac) and write
 * nothing more.  Returns as rec_write. */
int rec_alert(struct rec_state *st, uint8_t description, struct buf *out);
/* Free a partial record and wipe the keys. */
void rec_free(struct rec_state *st);
/* Free this thread's cipher and HMAC contexts (call when a thread ends). */
void rec_thread_done(void);

#endif
