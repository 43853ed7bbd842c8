/* ticket: the keys that seal stateless session tickets (RFC 5077, RFC 8446
 * §4.6.1).  A ticket carries the whole session, encrypted and authenticated
 * by the server, so resuming costs the server no memory per session; what it
 * keeps is two keys for the whole process, rotated on a clock so that one
 * leaked key opens at most two periods' worth of tickets. */
#ifndef STARLING_TLS_TICKET_H
#define STARLING_TLS_TICKET_H
#include <openssl/ssl.h>
#include <time.h>

/* Seconds one key seals new tickets; it is then kept one more period to open
 * them, and a session (SSL_CTX_set_timeout) lives one period, so any ticket
 * still valid was sealed by the current or the previous key. */
#define TLS_TICKET_PERIOD 3600

/* Seal and open this context's tickets with the process's key ring, and
 * give sessions TLS_TICKET_PERIOD to live.  Thread-safe; 0 or -1. */
int tls_ticket_use(SSL_CTX *ctx);
/* Tests only: the ring's clock in seconds (NULL = since boot). */
void tls_ticket_clock(time_t (*now)(void));

#endif
