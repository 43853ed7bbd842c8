/* peercert: what a client's certificate says, for SASL EXTERNAL (XEP-0178). */
#ifndef STARLING_TLS_PEERCERT_H
#define STARLING_TLS_PEERCERT_H
#include <openssl/ssl.h>

#define TLS_PEER_MAX_IDS 8 /* identities looked at in one certificate */

/* 1 when we asked for a client certificate (tls_server_request_client_cert)
 * and the client presented one that verified, else 0. */
int tls_peer_verified(SSL *ssl);
/* The identities of a verified client certificate: every xmppAddr
 * (RFC 6120 §13.7.1.4) of its subjectAltName, or when it has none the
 * subject's commonName (XEP-0178 §2 lets the server map the certificate to
 * an account; the name must then be the JID itself).  Up to max
 * NUL-terminated strings, malloc'd into out (the caller frees each).
 * Returns how many (0: none usable), or -ENOMEM. */
int tls_peer_ids(SSL *ssl, char **out, int max);

#endif
