#include "lean.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "peercert.h"

struct tls_lean *tls_lean_new(SSL *ssl)
{
	if (!rec_captures_secrets(SSL_get_SSL_CTX(ssl)))
		return NULL;
	struct tls_lean *l = calloc(1, sizeof *l);
	if (l && !SSL_set_app_data(ssl, &l->rec)) {
		free(l);
		return NULL;
	}
	return l;
}

/* Records OpenSSL sealed under the application write key: whole records
 * of type application_data (what every TLS 1.3 record looks like), or -1
 * when the bytes are anything else. */
static long count_records(const uint8_t *p, size_t n)
{
	long count = 0;
	while (n) {
		if (n < 5 || p[0] != 23)
			return -1;
		size_t len = (size_t)p[3] << 8 | p[4];
		if (n - 5 < len)
			return -1;
		p += 5 + len;
		n -= 5 + len;
		count++;
	}
	return count;
}

static int capture_peer(struct tls_lean *l, SSL *ssl)
{
	char *ids[TLS_PEER_MAX_IDS];
	l->peer_verified = (uint8_t)tls_peer_verified(ssl);
	if (!l->peer_verified)
		return 0;
	int n = tls_peer_ids(ssl, ids, TLS_PEER_MAX_IDS);
	if (n <= 0)
		return n;
	if (!(l->ids = malloc((size_t)n * sizeof *l->ids))) {
		while (n)
			free(ids[--n]);
		return -ENOMEM;
	}
	memcpy(l->ids, ids, (size_t)n * sizeof *ids);
	l->n_ids = (uint8_t)n;
	return 0;
}

int tls_lean_start(struct tls_lean *l, SSL *ssl, const uint8_t *written, size_t n,
		   unsigned cb_want)
{
	/* The callback has nothing more to capture; l may be freed before ssl. */
	SSL_set_app_data(ssl, NULL);
	int rc = rec_start(&l->rec, ssl);
	if (rc)
		return rc;
	long tickets = count_records(written, n);
	if (tickets < 0)
		return -EPROTO;
	/* The server's tickets went out under the first application key. */
	l->rec.wr.seq = (uint64_t)tickets;
	l->rec.is_server = 1;
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
	l->cipher = c ? (uint16_t)SSL_CIPHER_get_protocol_id(c) : 0;
	/* The exporter and the certificate's hash cost a tenth of the takeover:
	 * only what SASL may ask for. */
	unsigned cb = tls_cb_available(ssl, 1) & cb_want;
	size_t len = 0;
	if ((cb & TLS_CB_EXPORTER) && tls_cb_data(ssl, 1, TLS_CB_EXPORTER, l->exporter, &len))
		cb &= ~(unsigned)TLS_CB_EXPORTER;
	if ((cb & TLS_CB_SERVER_END_POINT) &&
	    tls_cb_data(ssl, 1, TLS_CB_SERVER_END_POINT, l->end_point, &len) == 0)
		l->end_point_len = (uint8_t)len;
	else
		cb &= ~(unsigned)TLS_CB_SERVER_END_POINT;
	l->cb_types = (uint8_t)cb;
	return capture_peer(l, ssl);
}

const char *tls_lean_cipher_name(const struct tls_lean *l)
{
	switch (l->cipher) {
	case 0x1301: return "TLS_AES_128_GCM_SHA256";
	case 0x1302: return "TLS_AES_256_GCM_SHA384";
	case 0x1303: return "TLS_CHACHA20_POLY1305_SHA256";
	}
	return "unknown";
}

unsigned tls_lean_cb_available(const struct tls_lean *l) { return l->cb_types; }

int tls_lean_cb_data(const struct tls_lean *l, enum tls_cb_type t, uint8_t *out, size_t *len)
{
	*len = 0;
	if (!(l->cb_types & t))
		return -ENOTSUP;
	if (t == TLS_CB_EXPORTER) {
		memcpy(out, l->exporter, sizeof l->exporter);
		*len = sizeof l->exporter;
	} else {
		memcpy(out, l->end_point, l->end_point_len);
		*len = l->end_point_len;
	}
	return 0;
}

int tls_lean_peer_ids(const struct tls_lean *l, char **out, int max)
{
	int n = 0;
	for (; n < l->n_ids && n < max; n++)
		if (!(out[n] = strdup(l->ids[n]))) {
			while (n)
				free(out[--n]);
			return -ENOMEM;
		}
	return n;
}

void tls_lean_free(struct tls_lean *l)
{
	if (!l)
		return;
	for (unsigned i = 0; i < l->n_ids; i++)
		free(l->ids[i]);
	free(l->ids);
	rec_free(&l->rec);
	OPENSSL_cleanse(l, sizeof *l); /* the exporter value is keying material */
	free(l);
}
