/* connlimit: connections per source address, for the whole process (issue
 * 9).  Workers are shared-nothing, but the kernel spreads one address's
 * connections over all of them (SO_REUSEPORT), so a per-worker count would
 * let an address hold workers x the limit.  This table is the one thing the
 * workers share besides the configuration: a mutex-guarded hash of the
 * addresses that have connections, touched only at accept and at close,
 * never on the data path. */
#ifndef STARLING_CM_CONNLIMIT_H
#define STARLING_CM_CONNLIMIT_H
#include <stdint.h>

struct connlimit;
struct connlimit_addr; /* one connected address; connections point at it */

/* The peer's address of a socket as 16 bytes (IPv4 mapped into IPv6);
 * -1 for a socket without one (a unix socket, or the peer is gone). */
int connlimit_peer_key(int fd, uint8_t key[16]);

/* A table allowing max connections per address; NULL when max is 0 (no
 * limit) or memory is short.  Owned by the caller: connlimit_free. */
struct connlimit *connlimit_new(unsigned max);
void connlimit_free(struct connlimit *l);
/* Count a new connection on fd.  0 with *out set (NULL when the address is
 * unknown or the table is off: nothing to release); 1 when the address
 * already has max connections (nothing counted); -ENOMEM. */
int connlimit_acquire(struct connlimit *l, int fd, struct connlimit_addr **out);
/* The connection counted by acquire has closed; a NULL a is a no-op. */
void connlimit_release(struct connlimit *l, struct connlimit_addr *a);

#endif
