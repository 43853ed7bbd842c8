/* lean: a server connection that left OpenSSL after its TLS 1.3 handshake
 * (issue 12).  The records are carried by tls/record.c, and what the
 * connection still asks of TLS later -- channel binding for SCRAM-*-PLUS,
 * the client certificate's identities for SASL EXTERNAL, the cipher suite
 * for logs -- is captured from the SSL object before it is freed, so an
 * idle session keeps a few hundred bytes instead of OpenSSL's ~15 KiB.
 *
 * The handshake must be driven with tls_handshake(), which stops after the
 * client's Finished (no application record read yet), and the contexts
 * must capture secrets (rec_capture_secrets on each SSL_CTX, SNI's
 * included). */
#ifndef STARLING_TLS_LEAN_H
#define STARLING_TLS_LEAN_H
#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>

#include "cbind.h"
#include "record.h"

struct tls_lean {
	struct rec_state rec;
	uint16_t cipher;     /* IANA id of the suite (RFC 8446 §B.4), for logs */
	uint8_t cb_types;    /* enum tls_cb_type mask, as tls_cb_available() */
	uint8_t end_point_len;
	uint8_t peer_verified; /* as tls_peer_verified() */
	uint8_t n_ids;
	uint8_t exporter[32];  /* RFC 9266 tls-exporter data */
	uint8_t end_point[TLS_CB_MAX_DATA]; /* RFC 5929 tls-server-end-point data */
	char **ids; /* malloc'd: the verified certificate's identities, or NULL */
};

/* For a new server connection before its handshake: the state the key log
 * callback fills (set as ssl's app data).  NULL when ssl's context does not
 * capture secrets (the connection stays on OpenSSL) or out of memory. */
struct tls_lean *tls_lean_new(SSL *ssl);
/* After tls_handshake() returned 1: take over from ssl.  written/n: the
 * bytes OpenSSL wrote during that last call (session tickets, sealed under
 * the application key, whose records the write sequence must count).
 * 0: the caller frees ssl and uses l.  -EPROTONOSUPPORT (TLS 1.2, a suite
 * record.c lacks) or another negative errno: the caller frees l and keeps
 * ssl, which is unharmed. */
int tls_lean_start(struct tls_lean *l, SSL *ssl, const uint8_t *written, size_t n,
		   unsigned cb_want);
/* "TLS_AES_128_GCM_SHA256" etc., for logs. */
const char *tls_lean_cipher_name(const struct tls_lean *l);
/* As tls_cb_available() / tls_cb_data() for the captured connection. */
unsigned tls_lean_cb_available(const struct tls_lean *l);
int tls_lean_cb_data(const struct tls_lean *l, enum tls_cb_type t, uint8_t *out, size_t *len);
/* As tls_peer_ids(): copies of the captured identities (the caller frees
 * each).  Returns how many, or -ENOMEM. */
int tls_lean_peer_ids(const struct tls_lean *l, char **out, int max);
void tls_lean_free(struct tls_lean *l);

#endif
