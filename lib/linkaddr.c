#include "linkaddr.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

static int connect_unix(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof sa.sun_path)
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

static int connect_tcp(const char *addr)
{
	char host[256];
	const char *colon = strrchr(addr, ':');
	if (!colon || (size_t)(colon - addr) >= sizeof host)
		return -EINVAL;
	/* "[v6]:port" as written in the config. */
	const char *h = addr;
	size_t hl = (size_t)(colon - addr);
	if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
		h++;
		hl -= 2;
	}
	memcpy(host, h, hl);
	host[hl] = 0;
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
	if (getaddrinfo(host, colon + 1, &hints, &ai))
		return -EINVAL;
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int rc = fd < 0 ? -errno : 0;
	/* A core that does not answer must not hold a cm worker, which
	 * reconnects from its event loop, for the kernel's SYN timeout. */
	struct timeval limit = {.tv_sec = 1}, none = {0};
	if (!rc && setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit))
		rc = -errno;
	if (!rc && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0)
		rc = errno == EINPROGRESS ? -ETIMEDOUT : -errno;
	if (!rc && setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof none))
		rc = -errno;
	freeaddrinfo(ai);
	if (rc) {
		if (fd >= 0)
			close(fd);
		return rc;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

int linkaddr_connect(const char *address)
{
	return strncmp(address, "unix:", 5) ? connect_tcp(address) : connect_unix(address + 5);
}
