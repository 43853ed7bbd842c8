#include "cbind.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <string.h>

#define EXPORTER_LABEL "EXPORTER-Channel-Binding"
#define EXPORTER_LEN 32

const char *tls_cb_name(enum tls_cb_type t)
{
	switch (t) {
	case TLS_CB_EXPORTER: return "tls-exporter";
	case TLS_CB_SERVER_END_POINT: return "tls-server-end-point";
	}
	return NULL;
}

enum tls_cb_type tls_cb_by_name(const char *name)
{
	if (name && !strcmp(name, "tls-exporter"))
		return TLS_CB_EXPORTER;
	if (name && !strcmp(name, "tls-server-end-point"))
		return TLS_CB_SERVER_END_POINT;
	return 0;
}

static X509 *server_cert(SSL *ssl, int is_server)
{
	return is_server ? SSL_get_certificate(ssl) : SSL_get0_peer_certificate(ssl);
}

/* RFC 5929 §4.1: the hash of the certificate's signature algorithm, except
 * that MD5 and SHA-1 become SHA-256; a signature with no separate hash
 * (Ed25519) leaves the type undefined.  NULL then. */
static const EVP_MD *end_point_md(X509 *cert)
{
	int md_nid = NID_undef;
	if (!cert || !OBJ_find_sigid_algs(X509_get_signature_nid(cert), &md_nid, NULL))
		return NULL;
	if (md_nid == NID_md5 || md_nid == NID_sha1)
		return EVP_sha256();
	if (md_nid == NID_undef)
		return NULL;
	const EVP_MD *md = EVP_get_digestbynid(md_nid);
	return md && EVP_MD_get_size(md) <= TLS_CB_MAX_DATA ? md : NULL;
}

unsigned tls_cb_available(SSL *ssl, int is_server)
{
	unsigned m = 0;
	if (!ssl || !SSL_is_init_finished(ssl))
		return 0;
	/* RFC 9266 §3: defined for TLS 1.3; under 1.2 only with the extended
	 * master secret, which we do not check, so not offered there. */
	if (SSL_version(ssl) == TLS1_3_VERSION)
		m |= TLS_CB_EXPORTER;
	if (end_point_md(server_cert(ssl, is_server)))
		m |= TLS_CB_SERVER_END_POINT;
	return m;
}

int tls_cb_data(SSL *ssl, int is_server, enum tls_cb_type t, uint8_t *out, size_t *len)
{
	*len = 0;
	if (!(tls_cb_available(ssl, is_server) & t))
		return -ENOTSUP;
	if (t == TLS_CB_EXPORTER) {
		/* RFC 9266 §2: label "EXPORTER-Channel-Binding", empty context, 32 bytes. */
		if (SSL_export_keying_material(ssl, out, EXPORTER_LEN, EXPORTER_LABEL,
					       strlen(EXPORTER_LABEL), NULL, 0, 0) != 1)
			return -EIO;
		*len = EXPORTER_LEN;
		return 0;
	}
	X509 *cert = server_cert(ssl, is_server);
	unsigned int n = 0;
	if (!X509_digest(cert, end_point_md(cert), out, &n))
		return -EIO;
	*len = n;
	return 0;
}
