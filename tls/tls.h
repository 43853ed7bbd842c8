/* tls: OpenSSL glue.  Connections do no socket I/O of their own: a custom BIO
 * reads ciphertext from the bytes the caller has just received (io_uring
 * provided buffers) and appends ciphertext output to the caller's send
 * buffer, so there is no per-connection BIO buffer.  With
 * SSL_MODE_RELEASE_BUFFERS, OpenSSL frees its record buffers while a
 * connection is idle. */
#ifndef STARLING_TLS_H
#define STARLING_TLS_H
#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/buf.h"

/* The bytes a TLS connection may read and where it writes, set by the caller
 * around each tls_* call.  Lives inside the caller's connection struct. */
struct tls_io {
	const uint8_t *in; /* ciphertext not yet consumed by OpenSSL */
	size_t in_len;
	struct buf *out;   /* ciphertext to send is appended here */
};

/* Server context: TLS 1.2+, certificate chain + key from PEM files, release
 * buffers, no session tickets/renegotiation surprises.  NULL on error with a
 * message in err. Caller frees with SSL_CTX_free(). */
SSL_CTX *tls_server_ctx(const char *cert_file, const char *key_file, char *err, size_t errlen);
/* Ask clients of ctx for a certificate signed by the CAs in ca_file
 * (XEP-0178), without requiring one: a missing or unverifiable certificate
 * does not fail the handshake, it only leaves tls_peer_verified() false.
 * 0, or -1 with a message in err. */
int tls_server_request_client_cert(SSL_CTX *ctx, const char *ca_file, char *err, size_t errlen);
/* Client context (tests, starling-bench): TLS 1.2+, no verification unless
 * ca_file is given. */
SSL_CTX *tls_client_ctx(const char *ca_file, char *err, size_t errlen);

/* New connection bound to io (which must outlive it). NULL on ENOMEM.
 * server_name: SNI for clients, NULL for servers (with a verifying client
 * context it is also the name checked against the certificate). A client
 * starts its handshake (ClientHello into io->out) with a tls_read() on empty
 * input. Free with SSL_free(). */
SSL *tls_new(SSL_CTX *ctx, struct tls_io *io, int is_server, const char *server_name);

/* Bind ssl to another io: the connection moved to another thread's loop
 * (stream resumption on another worker).  Only between tls_* calls. */
void tls_rebind(SSL *ssl, struct tls_io *io);

/* Consume io->in (handshake and records) and decrypt into out.
 * Returns >0 plaintext bytes, 0 when more input is needed (everything in
 * io->in has been consumed), -ECONNRESET on close_notify, -EPROTO on a fatal
 * TLS error (an alert may have been appended to io->out), -EINVAL when cap
 * is 0. Call repeatedly until it returns <= 0: after a return > 0, io->in
 * may still hold bytes. Plaintext that precedes an error is returned first; the
 * error follows on the next call. Drives the handshake. */
int tls_read(SSL *ssl, char *out, size_t cap);
/* Encrypt len bytes into io->out. Returns 0, -EAGAIN before the handshake
 * has finished (nothing written), or -EPROTO (also after tls_shutdown() or a
 * fatal error). */
int tls_write(SSL *ssl, const void *data, size_t len);
/* Queue close_notify into io->out (nothing while in the handshake). */
void tls_shutdown(SSL *ssl);
int tls_handshake_done(SSL *ssl);
/* Drive the handshake only: consume io->in up to the end of the handshake
 * and no further (a TLS 1.3 client stops right after the server's Finished,
 * before any record under the application keys).  Returns 1 when done (bytes
 * after it stay in io->in), 0 when more input is needed, -EPROTO on failure. */
int tls_handshake(SSL *ssl);

/* The oldest queued OpenSSL error of this thread (the root cause) as
 * "library: reason", for logs; clears the queue. Returns buf. */
const char *tls_error_string(char *buf, size_t len);

#endif
