/* mhttp: GET /metrics over HTTP/1.x (RFC 9112), one request per connection. */
#include "mhttp.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/config.h"

int mhttp_open(struct mhttp *m, const char *addr, mhttp_render_fn render, void *ctx)
{
	memset(m, 0, sizeof *m);
	m->lfd = -1;
	m->render = render;
	m->ctx = ctx;
	for (unsigned i = 0; i < MHTTP_MAX_CONNS; i++)
		m->c[i].fd = -1;
	if (!*addr)
		return 0;
	char host[CONFIG_STR];
	snprintf(host, sizeof host, "%s", addr);
	char *colon = strrchr(host, ':'), *h = host;
	if (!colon)
		return -EINVAL;
	*colon = 0;
	if (*h == '[' && colon > h && colon[-1] == ']') {
		h++;
		colon[-1] = 0;
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
	                         .ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_PASSIVE | AI_NUMERICSERV},
	                *ai;
	if (getaddrinfo(*h ? h : NULL, colon + 1, &hints, &ai))
		return -EINVAL;
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
	int rc = fd < 0 ? -errno : 0;
	if (!rc && (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
	            bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 16)))
		rc = -errno;
	freeaddrinfo(ai);
	if (rc && fd >= 0)
		close(fd);
	if (!rc)
		m->lfd = fd;
	return rc;
}

static void conn_close(struct mhttp_conn *c)
{
	/* shutdown first: a poll still armed on the fd (io_uring holds its own
	 * reference to the file) completes with POLLHUP instead of lingering. */
	shutdown(c->fd, SHUT_RDWR);
	close(c->fd);
	c->fd = -1;
	c->gen++;
	free(c->in);
	c->in = NULL;
	c->in_len = 0;
	buf_free(&c->out);
}

unsigned mhttp_accept(struct mhttp *m, uint64_t now_ms)
{
	unsigned opened = 0;
	for (;;) {
		int fd = accept4(m->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			m->accept_failed = errno != EAGAIN;
			return opened;
		}
		unsigned i = 0;
		while (i < MHTTP_MAX_CONNS && m->c[i].fd >= 0)
			i++;
		char *in = i < MHTTP_MAX_CONNS ? malloc(MHTTP_MAX_REQUEST) : NULL;
		if (!in) {
			m->n_refused++;
			close(fd);
			continue;
		}
		m->c[i] = (struct mhttp_conn){.fd = fd,
		                              .gen = m->c[i].gen,
		                              .in = in,
		                              .deadline_ms = now_ms + MHTTP_DEADLINE_MS};
		opened |= 1u << i;
	}
}

static int respond(struct mhttp_conn *c, const char *status, const char *type,
                   const struct buf *body, int head)
{
	char hdr[256];
	size_t n = body ? buf_avail(body) : 0;
	int k = snprintf(hdr, sizeof hdr,
	                 "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	                 "Connection: close\r\n\r\n",
	                 status, type, n);
	if (buf_append(&c->out, hdr, (size_t)k))
		return -ENOMEM;
	return n && !head ? buf_append(&c->out, buf_head(body), n) : 0;
}

static int error(struct mhttp_conn *c, const char *status)
{
	return respond(c, status, "text/plain; charset=utf-8", NULL, 0);
}

/* RFC 9112 §3: request-line = method SP request-target SP HTTP-version. */
static int answer(struct mhttp *m, struct mhttp_conn *c, size_t line_len)
{
	char line[128];
	if (line_len >= sizeof line)
		return error(c, "414 URI Too Long");
	memcpy(line, c->in, line_len);
	line[line_len] = 0;
	if (line_len && line[line_len - 1] == '\r')
		line[--line_len] = 0;
	char *sp1 = strchr(line, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp1 || !sp2 || strncmp(sp2 + 1, "HTTP/1.", 7) || !sp2[8] || sp2[9])
		return error(c, "400 Bad Request");
	*sp1 = *sp2 = 0;
	int head = !strcmp(line, "HEAD");
	if (!head && strcmp(line, "GET"))
		return error(c, "405 Method Not Allowed");
	size_t plen = strcspn(sp1 + 1, "?");
	if (plen != 8 || strncmp(sp1 + 1, "/metrics", 8))
		return error(c, "404 Not Found");
	struct buf body = {0};
	int rc = m->render(m->ctx, &body);
	rc = rc ? error(c, "500 Internal Server Error")
	        : respond(c, "200 OK", "text/plain; version=0.0.4; charset=utf-8", &body, head);
	buf_free(&body);
	m->n_requests++;
	return rc;
}

/* Reads what has come; answers once the header block ended.  Returns 1 to
 * go on reading, 0 with a response queued, -1 to close. */
static int read_request(struct mhttp *m, struct mhttp_conn *c)
{
	for (;;) {
		if (c->in_len == MHTTP_MAX_REQUEST)
			return error(c, "431 Request Header Fields Too Large") ? -1 : 0;
		ssize_t n = read(c->fd, c->in + c->in_len, MHTTP_MAX_REQUEST - c->in_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 1;
		if (n <= 0)
			return -1; /* gone before asking anything */
		size_t from = c->in_len >= 3 ? c->in_len - 3 : 0;
		c->in_len += (uint32_t)n;
		for (size_t i = from; i < c->in_len; i++)
			if (c->in[i] == 0 || (c->in[i] < 32 && c->in[i] != '\r' &&
			                      c->in[i] != '\n' && c->in[i] != '\t'))
				return error(c, "400 Bad Request") ? -1 : 0;
		for (size_t i = from ? from : 1; i < c->in_len; i++)
			if (c->in[i] == '\n' && (c->in[i - 1] == '\n' ||
			                         (i >= 3 && !memcmp(c->in + i - 3, "\r\n\r", 3)))) {
				const char *nl = memchr(c->in, '\n', c->in_len);
				return answer(m, c, (size_t)(nl - c->in)) ? -1 : 0;
			}
	}
}

unsigned mhttp_step(struct mhttp *m, unsigned i, uint64_t now_ms)
{
	struct mhttp_conn *c = &m->c[i];
	(void)now_ms;
	if (c->fd < 0)
		return 0;
	if (c->in) {
		int rc = read_request(m, c);
		if (rc > 0)
			return POLLIN;
		free(c->in);
		c->in = NULL;
		if (rc < 0) {
			conn_close(c);
			return 0;
		}
	}
	while (buf_avail(&c->out)) {
		ssize_t n = send(c->fd, buf_head(&c->out), buf_avail(&c->out), MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return POLLOUT;
		if (n <= 0)
			break;
		buf_consume(&c->out, (size_t)n);
	}
	conn_close(c);
	return 0;
}

void mhttp_expire(struct mhttp *m, uint64_t now_ms)
{
	for (unsigned i = 0; i < MHTTP_MAX_CONNS; i++)
		if (m->c[i].fd >= 0 && now_ms >= m->c[i].deadline_ms)
			conn_close(&m->c[i]);
}

int mhttp_busy(const struct mhttp *m)
{
	for (unsigned i = 0; i < MHTTP_MAX_CONNS; i++)
		if (m->c[i].fd >= 0)
			return 1;
	return 0;
}

void mhttp_close(struct mhttp *m)
{
	for (unsigned i = 0; i < MHTTP_MAX_CONNS; i++)
		if (m->c[i].fd >= 0)
			conn_close(&m->c[i]);
	if (m->lfd >= 0)
		close(m->lfd);
	m->lfd = -1;
}
