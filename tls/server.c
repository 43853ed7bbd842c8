#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <idna.h>

#include "record.h"
#include "ticket.h"
#include "tls.h"

/* The domain contexts of one default context, stored in its ex_data and
 * freed with it: a connection moved to a domain's context still holds the
 * default one (OpenSSL keeps it as the session context), so the table
 * outlives every callback that reads it. */
struct tls_sni {
	unsigned n;
	struct {
		char *domain;
		SSL_CTX *ctx;
	} e[];
};

static int tls_sni_index = -1;
static pthread_once_t tls_sni_once = PTHREAD_ONCE_INIT;

static void tls_sni_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
			 void *argp)
{
	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	struct tls_sni *t = ptr;
	for (unsigned i = 0; t && i < t->n; i++) {
		free(t->e[i].domain);
		SSL_CTX_free(t->e[i].ctx);
	}
	free(t);
}

static void tls_sni_index_init(void)
{
	tls_sni_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, tls_sni_free);
}

/* RFC 6066 §3: the name is ASCII, compared without regard to case.  A name
 * not hosted, or none, keeps the default certificate. */
static int tls_sni_cb(SSL *ssl, int *alert, void *arg)
{
	const struct tls_sni *t = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	for (unsigned i = 0; name && i < t->n; i++) {
		if (strcasecmp(name, t->e[i].domain))
			continue;
		if (!SSL_set_SSL_CTX(ssl, t->e[i].ctx)) {
			*alert = SSL_AD_INTERNAL_ERROR;
			return SSL_TLSEXT_ERR_ALERT_FATAL;
		}
		break;
	}
	return SSL_TLSEXT_ERR_OK;
}

/* XEP-0368 §3: the protocol is 'xmpp-client'.  A client offering only
 * other protocols gets no_application_protocol (RFC 7301 §3.2) rather than
 * an XMPP stream it did not ask for (cross-protocol confusion); a client
 * offering no ALPN at all is served. */
static int tls_alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned inlen, void *arg)
{
	(void)ssl, (void)arg;
	static const unsigned char xmpp[] = "xmpp-client";
	for (unsigned i = 0; i < inlen;) {
		unsigned n = in[i++];
		if (n > inlen - i)
			break; /* OpenSSL checks the list; never read past it anyway */
		if (n == sizeof xmpp - 1 && !memcmp(in + i, xmpp, n)) {
			*out = xmpp;
			*outlen = (unsigned char)n;
			return SSL_TLSEXT_ERR_OK;
		}
		i += n;
	}
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* One certificate's context, with what every context shares. */
static SSL_CTX *tls_server_one(const struct tls_server_opts *o, const char *cert,
			       const char *key, char *err, size_t errlen)
{
	SSL_CTX *ctx = tls_server_ctx(cert, key, err, errlen);
	if (!ctx)
		return NULL;
	SSL_CTX_set_alpn_select_cb(ctx, tls_alpn_cb, NULL);
	/* On every context: SNI moves a connection to its domain's before
	 * the secrets are logged. */
	if (o->lean_records)
		rec_capture_secrets(ctx);
	if (o->session_tickets && tls_ticket_use(ctx)) {
		snprintf(err, errlen, "cannot enable session tickets");
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (o->client_ca && tls_server_request_client_cert(ctx, o->client_ca, err, errlen)) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

static int tls_sni_add(struct tls_sni *t, const struct tls_domain_cert *d,
		       const struct tls_server_opts *o, char *err, size_t errlen)
{
	SSL_CTX *ctx = tls_server_one(o, d->cert, d->key, err, errlen);
	/* A client's SNI is the A-label form (RFC 6066 §3, RFC 5890): a hosted
	 * domain configured in Unicode is compared in that form. */
	char *dom = NULL;
	int rc = ctx ? idna_to_ascii_8z(d->domain, &dom, 0) : IDNA_SUCCESS;
	if (!dom) {
		if (ctx)
			snprintf(err, errlen, "%s: %s", d->domain,
				 rc == IDNA_SUCCESS ? "out of memory" : idna_strerror(rc));
		SSL_CTX_free(ctx);
		return -1;
	}
	t->e[t->n].domain = dom;
	t->e[t->n++].ctx = ctx;
	return 0;
}

SSL_CTX *tls_server_new(const struct tls_server_opts *o, char *err, size_t errlen)
{
	pthread_once(&tls_sni_once, tls_sni_index_init);
	if (tls_sni_index < 0) {
		snprintf(err, errlen, "cannot create the SNI table index");
		return NULL;
	}
	SSL_CTX *ctx = tls_server_one(o, o->cert, o->key, err, errlen);
	if (!ctx)
		return NULL;
	/* Owned by ctx from here on: tls_sni_free frees what was added. */
	struct tls_sni *t = calloc(1, sizeof *t + o->ndomains * sizeof t->e[0]);
	if (!t || !SSL_CTX_set_ex_data(ctx, tls_sni_index, t)) {
		free(t);
		SSL_CTX_free(ctx);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (unsigned i = 0; i < o->ndomains; i++)
		if (tls_sni_add(t, &o->domains[i], o, err, errlen)) {
			SSL_CTX_free(ctx);
			return NULL;
		}
	SSL_CTX_set_tlsext_servername_callback(ctx, tls_sni_cb);
	SSL_CTX_set_tlsext_servername_arg(ctx, t);
	return ctx;
}

/* ---- the current context, for worker threads ---- */

void tls_current_init(struct tls_current *cur, SSL_CTX *ctx)
{
	pthread_mutex_init(&cur->lock, NULL);
	cur->ctx = ctx;
	cur->gen = 0;
}

void tls_current_swap(struct tls_current *cur, SSL_CTX *ctx)
{
	pthread_mutex_lock(&cur->lock);
	SSL_CTX *old = cur->ctx;
	cur->ctx = ctx;
	__atomic_add_fetch(&cur->gen, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&cur->lock);
	SSL_CTX_free(old); /* workers and connections hold their own references */
}

void tls_current_free(struct tls_current *cur)
{
	SSL_CTX_free(cur->ctx);
	cur->ctx = NULL;
	pthread_mutex_destroy(&cur->lock);
}

SSL_CTX *tls_current_get(struct tls_current *cur, SSL_CTX **ctx, unsigned *gen)
{
	if (*ctx && __atomic_load_n(&cur->gen, __ATOMIC_ACQUIRE) == *gen)
		return *ctx;
	pthread_mutex_lock(&cur->lock);
	SSL_CTX *now = cur->ctx;
	SSL_CTX_up_ref(now);
	*gen = __atomic_load_n(&cur->gen, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&cur->lock);
	SSL_CTX_free(*ctx);
	*ctx = now;
	return now;
}
