/* fuzz_mhttp: the /metrics HTTP server's request handling on a real socket
 * pair: the input arrives in pieces (its first byte picks the piece size),
 * the peer then closes its side; the server must answer with one well-formed
 * status line or nothing, and free everything. */
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/mhttp.h"

static int render(void *ctx, struct buf *out)
{
	(void)ctx;
	return buf_append_str(out, "# TYPE starling_x counter\nstarling_x_total 1\n");
}

static void drain(int fd, char *resp, size_t *n, size_t cap)
{
	ssize_t k;
	while ((k = recv(fd, resp + *n, cap - *n, MSG_DONTWAIT)) > 0)
		*n += (size_t)k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size)
		return 0;
	size_t piece = data[0] % 64 + 1;
	data++, size--;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv))
		abort();
	struct mhttp m;
	if (mhttp_open(&m, "", render, NULL))
		abort();
	m.c[0] = (struct mhttp_conn){.fd = sv[0], .in = malloc(MHTTP_MAX_REQUEST)};
	char resp[65536];
	size_t got = 0;
	unsigned want = POLLIN;
	for (size_t off = 0; want && off < size; off += piece) {
		size_t n = size - off < piece ? size - off : piece;
		if (send(sv[1], data + off, n, MSG_NOSIGNAL) < 0)
			break;
		want = mhttp_step(&m, 0, 0);
		drain(sv[1], resp, &got, sizeof resp);
	}
	shutdown(sv[1], SHUT_WR);
	while (want) {
		want = mhttp_step(&m, 0, 0);
		drain(sv[1], resp, &got, sizeof resp);
	}
	if (got && (got < 12 || memcmp(resp, "HTTP/1.1 ", 9)))
		abort();
	if (m.c[0].fd >= 0 || m.c[0].in)
		abort(); /* closed and freed once done */
	mhttp_close(&m);
	close(sv[1]);
	return 0;
}
