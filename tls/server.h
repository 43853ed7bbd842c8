/* server: the cm's TLS server contexts.  One SSL_CTX per certificate: the
 * default one, that every connection starts with, and one per hosted domain
 * given its own certificate, which the SNI callback (RFC 6066 §3) moves a
 * connection to.  ALPN 'xmpp-client' (XEP-0368 §3) and session tickets are
 * set up here; tls_current hands the contexts to the worker threads and
 * swaps them on a reload. */
#ifndef STARLING_TLS_SERVER_H
#define STARLING_TLS_SERVER_H
#include <openssl/ssl.h>
#include <pthread.h>
#include <stddef.h>

struct tls_domain_cert {
	const char *domain; /* lowercase, as a client's SNI names it */
	const char *cert, *key;
};

struct tls_server_opts {
	const char *cert, *key; /* the default: no SNI, or a name without its own */
	const struct tls_domain_cert *domains;
	unsigned ndomains;
	int session_tickets; /* stateless tickets (tls/ticket.h), else none */
	/* Capture TLS 1.3 traffic secrets, so that connections can leave
	 * OpenSSL after the handshake (tls/lean.h). */
	int lean_records;
	/* CAs of client certificates for SASL EXTERNAL (XEP-0178), or NULL:
	 * every context asks, so SNI's switch keeps the request. */
	const char *client_ca;
};

/* Every file read and checked; NULL with "FILE: what: why" in err on the
 * first failure.  The caller owns the default context (SSL_CTX_free); the
 * domain contexts live as long as it does. */
SSL_CTX *tls_server_new(const struct tls_server_opts *o, char *err, size_t errlen);

/* The context new connections get, replaced by a reload while workers
 * run.  Each worker caches a reference and checks the generation (one
 * atomic load) before using it; a connection keeps the context it started
 * with (SSL_new takes a reference), so nothing is freed under it. */
struct tls_current {
	pthread_mutex_t lock;
	SSL_CTX *ctx; /* one reference, ours */
	unsigned gen; /* atomic; moved by every swap */
};

/* Both take over the caller's reference to ctx. */
void tls_current_init(struct tls_current *cur, SSL_CTX *ctx);
void tls_current_swap(struct tls_current *cur, SSL_CTX *ctx);
void tls_current_free(struct tls_current *cur);
/* *ctx: the caller's reference (NULL at first), *gen its generation;
 * replaced by the current context when a swap happened.  Returns *ctx. */
SSL_CTX *tls_current_get(struct tls_current *cur, SSL_CTX **ctx, unsigned *gen);

#endif
