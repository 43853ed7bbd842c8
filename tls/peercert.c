#include "peercert.h"

#include <errno.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

int tls_peer_verified(SSL *ssl)
{
	/* The verify result reads X509_V_OK also when nothing was verified. */
	return ssl && (SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) &&
	       SSL_get0_peer_certificate(ssl) && SSL_get_verify_result(ssl) == X509_V_OK;
}

/* A copy of a UTF-8 string value, refusing embedded NULs.  NULL when
 * unusable; *oom set when out of memory. */
static char *utf8_copy(const unsigned char *p, int len, int *oom)
{
	if (len <= 0 || memchr(p, 0, (size_t)len))
		return NULL;
	char *s = strndup((const char *)p, (size_t)len);
	*oom |= !s;
	return s;
}

/* RFC 6120 §13.7.1.4: id-on-xmppAddr, an otherName holding a UTF8String. */
static int xmpp_addrs(X509 *cert, char **out, int max, int *oom)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	int n = 0;
	for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens) && n < max; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		if (g->type != GEN_OTHERNAME || OBJ_obj2nid(g->d.otherName->type_id) != NID_XmppAddr)
			continue;
		const ASN1_TYPE *v = g->d.otherName->value;
		if (v->type != V_ASN1_UTF8STRING)
			continue;
		char *s = utf8_copy(ASN1_STRING_get0_data(v->value.utf8string),
				    ASN1_STRING_length(v->value.utf8string), oom);
		if (s)
			out[n++] = s;
	}
	GENERAL_NAMES_free(gens);
	return n;
}

static char *common_name(X509 *cert, int *oom)
{
	X509_NAME *subj = X509_get_subject_name(cert);
	int i = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
	unsigned char *u = NULL;
	if (i < 0)
		return NULL;
	int len = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i)));
	char *s = len > 0 ? utf8_copy(u, len, oom) : NULL;
	OPENSSL_free(u);
	return s;
}

int tls_peer_ids(SSL *ssl, char **out, int max)
{
	int oom = 0, n = 0;
	X509 *cert = tls_peer_verified(ssl) ? SSL_get0_peer_certificate(ssl) : NULL;
	if (cert && max > 0)
		n = xmpp_addrs(cert, out, max, &oom);
	if (cert && !n && !oom && max > 0 && (out[0] = common_name(cert, &oom)))
		n = 1;
	if (oom) {
		while (n)
			free(out[--n]);
		return -ENOMEM;
	}
	return n;
}
