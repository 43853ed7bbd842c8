/* linkaddr: connect to a backend link address as written in the config,
 * "unix:PATH" or "HOST:PORT" (IPv6 hosts in brackets).  Blocking; used by
 * starling-cm at start-up and by starlingctl. */
#ifndef STARLING_LINKADDR_H
#define STARLING_LINKADDR_H

/* Returns a connected stream socket (CLOEXEC, TCP_NODELAY for TCP) or -errno;
 * a TCP connect gives up after a second (-ETIMEDOUT). */
int linkaddr_connect(const char *address);

#endif
