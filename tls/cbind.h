/* cbind: TLS channel-binding data for SASL (RFC 5056), so that lib/scram
 * can stay free of TLS.  Two types: tls-exporter (RFC 9266, TLS 1.3 only)
 * and tls-server-end-point (RFC 5929 §4). */
#ifndef STARLING_TLS_CBIND_H
#define STARLING_TLS_CBIND_H
#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>

enum tls_cb_type {
	TLS_CB_EXPORTER = 1 << 0,	  /* "tls-exporter" */
	TLS_CB_SERVER_END_POINT = 1 << 1, /* "tls-server-end-point" */
};
#define TLS_CB_TYPES 2
#define TLS_CB_MAX_DATA 64 /* the longest digest tls-server-end-point may use */

/* The IANA name of one type ("tls-exporter"), NULL for anything else. */
const char *tls_cb_name(enum tls_cb_type t);
/* The type named name, or 0 when we know none by that name. */
enum tls_cb_type tls_cb_by_name(const char *name);
/* The types this established connection can bind to, as a mask: tls-exporter
 * on TLS 1.3, tls-server-end-point when the server certificate's signature
 * names a hash.  0 before the handshake is done.  is_server: our side. */
unsigned tls_cb_available(SSL *ssl, int is_server);
/* The binding data of type t for this connection into out (at least
 * TLS_CB_MAX_DATA bytes); *len set.  0, or -ENOTSUP when t is not available
 * here, -EIO when OpenSSL fails. */
int tls_cb_data(SSL *ssl, int is_server, enum tls_cb_type t, uint8_t *out, size_t *len);

#endif
