#include "tls.h"

#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* ---- the memory BIO over struct tls_io ---- */

static BIO_METHOD *tls_bio_method;
static pthread_once_t tls_bio_once = PTHREAD_ONCE_INIT;

static int tls_bio_read(BIO *bio, char *out, int len)
{
	struct tls_io *io = BIO_get_data(bio);
	BIO_clear_retry_flags(bio);
	if (len <= 0)
		return 0;
	if (!io->in_len) {
		/* Not EOF: the caller will bring more bytes later. */
		BIO_set_retry_read(bio);
		return -1;
	}
	size_t n = io->in_len < (size_t)len ? io->in_len : (size_t)len;
	memcpy(out, io->in, n);
	io->in += n;
	io->in_len -= n;
	return (int)n;
}

static int tls_bio_write(BIO *bio, const char *data, int len)
{
	struct tls_io *io = BIO_get_data(bio);
	BIO_clear_retry_flags(bio);
	if (len <= 0)
		return 0;
	/* No retry flag on failure: out of memory is fatal for the connection. */
	if (buf_append(io->out, data, (size_t)len))
		return -1;
	return len;
}

static long tls_bio_ctrl(BIO *bio, int cmd, long num, void *ptr)
{
	(void)ptr;
	struct tls_io *io = BIO_get_data(bio);
	switch (cmd) {
	case BIO_CTRL_FLUSH: /* output is in io->out already; sending is the caller's job */
	case BIO_CTRL_DUP:
		return 1;
	case BIO_CTRL_PENDING:
		return io && io->in_len < LONG_MAX ? (long)io->in_len : 0;
	case BIO_CTRL_WPENDING:
	case BIO_CTRL_EOF: /* the peer's EOF is seen by the caller, not by OpenSSL */
	case BIO_CTRL_PUSH:
	case BIO_CTRL_POP:
		return 0;
	case BIO_CTRL_GET_CLOSE:
		return BIO_get_shutdown(bio);
	case BIO_CTRL_SET_CLOSE:
		BIO_set_shutdown(bio, (int)num);
		return 1;
	default:
		return 0; /* unsupported, e.g. kTLS or datagram controls */
	}
}

static int tls_bio_create(BIO *bio)
{
	BIO_set_init(bio, 1);
	return 1;
}

static void tls_bio_method_init(void)
{
	/* Created once and never freed: it is shared by every connection of
	 * every worker thread until exit. */
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "starling");
	if (!m)
		return;
	if (!BIO_meth_set_read(m, tls_bio_read) || !BIO_meth_set_write(m, tls_bio_write) ||
	    !BIO_meth_set_ctrl(m, tls_bio_ctrl) || !BIO_meth_set_create(m, tls_bio_create)) {
		BIO_meth_free(m);
		return;
	}
	tls_bio_method = m;
}

/* ---- errors ---- */

const char *tls_error_string(char *buf, size_t len)
{
	/* The oldest queued error is the root cause (e.g. "No such file or
	 * directory" before "system lib"). */
	unsigned long e = ERR_get_error();
	ERR_clear_error();
	if (!e) {
		snprintf(buf, len, "no OpenSSL error");
		return buf;
	}
	const char *lib = ERR_lib_error_string(e);
	const char *reason = ERR_reason_error_string(e);
	if (ERR_SYSTEM_ERROR(e))
		reason = strerror(ERR_GET_REASON(e)); /* e.g. fopen() failing */
	if (reason)
		snprintf(buf, len, "%s%s%s", lib ? lib : "", lib ? ": " : "", reason);
	else
		snprintf(buf, len, "OpenSSL error %lx", e);
	return buf;
}

static void tls_ctx_error(char *err, size_t errlen, const char *what, const char *file)
{
	char reason[256];
	tls_error_string(reason, sizeof reason);
	if (file)
		snprintf(err, errlen, "%s: %s: %s", file, what, reason);
	else
		snprintf(err, errlen, "%s: %s", what, reason);
}

/* ---- contexts ---- */

static SSL_CTX *tls_ctx_common(const SSL_METHOD *method, char *err, size_t errlen)
{
	ERR_clear_error();
	SSL_CTX *ctx = SSL_CTX_new(method);
	if (!ctx) {
		tls_ctx_error(err, errlen, "cannot create TLS context", NULL);
		return NULL;
	}
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION)) {
		tls_ctx_error(err, errlen, "cannot set minimum TLS version", NULL);
		SSL_CTX_free(ctx);
		return NULL;
	}
	/* RELEASE_BUFFERS: idle connections hold no 16 KiB record buffers.
	 * PARTIAL_WRITE + MOVING_WRITE_BUFFER: the caller's send queue may move. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
				  SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* Renegotiation lets a peer make us redo expensive handshakes at will;
	 * compression enables CRIME-style attacks. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	return ctx;
}

static int tls_ctx_load(SSL_CTX *ctx, const char *cert_file, const char *key_file, char *err,
			size_t errlen)
{
	ERR_clear_error();
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		tls_ctx_error(err, errlen, "cannot load certificate chain", cert_file);
		return -1;
	}
	/* Loading the key already compares it with the certificate; the
	 * explicit check covers a chain file holding no usable certificate. */
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		unsigned long e = ERR_peek_error();
		char what[300];
		if (ERR_GET_LIB(e) == ERR_LIB_X509 &&
		    ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH)
			snprintf(what, sizeof what, "private key does not match certificate %.200s",
				 cert_file);
		else
			snprintf(what, sizeof what, "cannot load private key");
		tls_ctx_error(err, errlen, what, key_file);
		return -1;
	}
	return 0;
}

SSL_CTX *tls_server_ctx(const char *cert_file, const char *key_file, char *err, size_t errlen)
{
	SSL_CTX *ctx = tls_ctx_common(TLS_server_method(), err, errlen);
	if (!ctx)
		return NULL;
	/* No server-side session cache and no TLS 1.3 tickets: the cache keeps
	 * an SSL_SESSION per recent client in server memory, and tickets cost a
	 * post-handshake message plus ticket crypto on every login, while XMPP
	 * clients keep one long-lived connection and resume at the XMPP layer
	 * (XEP-0198) rather than with TLS resumption. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	/* TLS 1.3: AES-128-GCM-SHA256 first (RFC 8446 §9.1's mandatory suite),
	 * whatever the client's order: OpenSSL clients list AES-256-GCM-SHA384
	 * first, and SHA-384, which no CPU here computes in hardware, made the
	 * key schedule and transcript 5% of a login's instructions.  A client
	 * that lists ChaCha20 first (no AES in hardware) keeps it. */
	if (!SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:"
					   "TLS_AES_256_GCM_SHA384")) {
		tls_ctx_error(err, errlen, "cannot set the TLS 1.3 cipher suites", NULL);
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA);
	if (!SSL_CTX_set_num_tickets(ctx, 0)) {
		tls_ctx_error(err, errlen, "cannot disable session tickets", NULL);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (tls_ctx_load(ctx, cert_file, key_file, err, errlen)) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* Accept whatever the client presents: tls_peer_verified() reads the result
 * of the check afterwards, so a bad certificate costs the client EXTERNAL,
 * not the connection. */
static int tls_accept_any(int ok, X509_STORE_CTX *x)
{
	(void)ok;
	(void)x;
	return 1;
}

int tls_server_request_client_cert(SSL_CTX *ctx, const char *ca_file, char *err, size_t errlen)
{
	static const unsigned char sid_ctx[] = "starling-c2s";
	ERR_clear_error();
	STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca_file);
	if (!names || SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
		sk_X509_NAME_pop_free(names, X509_NAME_free);
		tls_ctx_error(err, errlen, "cannot load client CA certificates", ca_file);
		return -1;
	}
	SSL_CTX_set_client_CA_list(ctx, names); /* ctx owns names */
	/* OpenSSL refuses verified sessions without an id context, even with
	 * resumption off. */
	SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof sid_ctx - 1);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, tls_accept_any);
	return 0;
}

SSL_CTX *tls_client_ctx(const char *ca_file, char *err, size_t errlen)
{
	SSL_CTX *ctx = tls_ctx_common(TLS_client_method(), err, errlen);
	if (!ctx)
		return NULL;
	if (!ca_file) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
		return ctx;
	}
	if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
		tls_ctx_error(err, errlen, "cannot load CA certificates", ca_file);
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}

/* ---- connections ---- */

static struct tls_io *tls_io_of(SSL *ssl) { return BIO_get_data(SSL_get_rbio(ssl)); }

void tls_rebind(SSL *ssl, struct tls_io *io) { BIO_set_data(SSL_get_rbio(ssl), io); }

SSL *tls_new(SSL_CTX *ctx, struct tls_io *io, int is_server, const char *server_name)
{
	if (pthread_once(&tls_bio_once, tls_bio_method_init) || !tls_bio_method)
		return NULL;
	SSL *ssl = SSL_new(ctx);
	BIO *bio = BIO_new(tls_bio_method);
	if (!ssl || !bio) {
		BIO_free(bio);
		SSL_free(ssl);
		return NULL;
	}
	BIO_set_data(bio, io);
	SSL_set_bio(ssl, bio, bio); /* ssl owns the one reference; freed by SSL_free */
	if (is_server) {
		SSL_set_accept_state(ssl);
		return ssl;
	}
	SSL_set_connect_state(ssl);
	if (server_name) {
		/* RFC 6120 §13.7.2.1: check the certificate against the domain. */
		if (!SSL_set_tlsext_host_name(ssl, server_name) ||
		    ((SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) &&
		     !SSL_set1_host(ssl, server_name))) {
			SSL_free(ssl);
			return NULL;
		}
	}
	return ssl;
}

/* SSL_get_error() reads this thread's error queue, which may hold stale
 * entries from another connection, so it must be empty before each call.
 * Peeking first is cheaper: OpenSSL 3.0's ERR_clear_error() wipes all
 * sixteen slots every time, about 2,000 instructions, twice per message. */
static void tls_clear_errors(void)
{
	if (ERR_peek_error())
		ERR_clear_error();
}

/* Map a failed SSL_read/SSL_write result. */
static int tls_failure(SSL *ssl, int ret)
{
	switch (SSL_get_error(ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		return 0;
	case SSL_ERROR_ZERO_RETURN:
		return -ECONNRESET;
	default:
		return -EPROTO;
	}
}

/* After the handshake, with nothing new and nothing buffered, SSL_read
 * could only say WANT_READ, at OpenSSL's price of a whole record-layer pass,
 * once per message.  Not before it (a client's first call writes its
 * ClientHello), nor once the peer closed (that answer is sticky). */
static int tls_nothing_to_read(SSL *ssl, const struct tls_io *io)
{
	return !io->in_len && !SSL_has_pending(ssl) && SSL_is_init_finished(ssl) &&
	       !(SSL_get_shutdown(ssl) & SSL_RECEIVED_SHUTDOWN);
}

int tls_read(SSL *ssl, char *out, size_t cap)
{
	struct tls_io *io = tls_io_of(ssl);
	if (!cap)
		return -EINVAL;
	if (cap > INT_MAX)
		cap = INT_MAX;
	if (tls_nothing_to_read(ssl, io))
		return 0;
	size_t total = 0;
	while (total < cap) {
		size_t before = io->in_len;
		tls_clear_errors();
		int n = SSL_read(ssl, out + total, (int)(cap - total));
		if (n > 0) {
			total += (size_t)n;
			if (tls_nothing_to_read(ssl, io))
				break;
			continue;
		}
		/* Return the plaintext first; the error, being sticky, comes back
		 * on the next call. */
		if (total)
			break;
		int r = tls_failure(ssl, n);
		if (r == 0 && io->in_len) {
			/* The contract is "0 means all input consumed": retry while
			 * OpenSSL makes progress, else call the connection broken. */
			if (io->in_len < before)
				continue;
			return -EPROTO;
		}
		return r;
	}
	return (int)total;
}

int tls_write(SSL *ssl, const void *data, size_t len)
{
	/* Application data before the handshake completes is a caller bug; do
	 * not let SSL_write start or drive the handshake behind its back.  (Not
	 * SSL_is_init_finished(): a fatal error after the handshake clears it,
	 * and that case must read as -EPROTO.) */
	if (SSL_get_state(ssl) != TLS_ST_OK)
		return -EAGAIN;
	const char *p = data;
	while (len) {
		int chunk = len > INT_MAX ? INT_MAX : (int)len;
		tls_clear_errors();
		int n = SSL_write(ssl, p, chunk);
		if (n <= 0)
			return -EPROTO; /* our BIO never asks to retry a write */
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void tls_shutdown(SSL *ssl)
{
	/* One call queues close_notify; we do not wait for the peer's
	 * (RFC 8446 §6.1 allows closing without it).  During the handshake
	 * OpenSSL refuses, and there is nothing worth saying anyway. */
	ERR_clear_error();
	if (SSL_is_init_finished(ssl))
		SSL_shutdown(ssl);
	ERR_clear_error();
}

int tls_handshake_done(SSL *ssl) { return SSL_is_init_finished(ssl); }

int tls_handshake(SSL *ssl)
{
	ERR_clear_error();
	int n = SSL_do_handshake(ssl);
	if (n == 1)
		return 1;
	return tls_failure(ssl, n) == 0 ? 0 : -EPROTO;
}
