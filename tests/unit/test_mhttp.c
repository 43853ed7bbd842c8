/* test_mhttp: the /metrics HTTP server (lib/mhttp.c) on real sockets, with
 * the clock passed in, so deadlines are checked without waiting; and the
 * latency histogram's buckets and rendering (lib/lathist.c). */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "lib/lathist.h"
#include "lib/mhttp.h"

static int renders;

static int render(void *ctx, struct buf *out)
{
	(void)ctx;
	renders++;
	return buf_append_str(out, "starling_x_total 7\n");
}

/* A connection in slot i of m, its peer returned (both non-blocking). */
static int attach(struct mhttp *m, unsigned i, uint64_t now)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv))
		abort();
	m->c[i] = (struct mhttp_conn){.fd = sv[0],
	                              .gen = m->c[i].gen,
	                              .in = malloc(MHTTP_MAX_REQUEST),
	                              .deadline_ms = now + MHTTP_DEADLINE_MS};
	return sv[1];
}

/* Everything the server wrote, once it closed; "" if it has not closed. */
static const char *response(int peer)
{
	static char r[65536];
	size_t n = 0;
	ssize_t k;
	while ((k = recv(peer, r + n, sizeof r - 1 - n, MSG_DONTWAIT)) > 0)
		n += (size_t)k;
	r[n] = 0;
	/* A close with our bytes unread resets the peer, after what was sent. */
	return k == 0 || (k < 0 && errno == ECONNRESET) ? r : "";
}

/* Sends a whole request and steps the server once: its response. */
static const char *ask(const char *req)
{
	struct mhttp m;
	mhttp_open(&m, "", render, NULL);
	int peer = attach(&m, 0, 0);
	send(peer, req, strlen(req), 0);
	CHECK(mhttp_step(&m, 0, 0) == 0); /* answered and closed in one go */
	CHECK(m.c[0].fd < 0 && !m.c[0].in);
	const char *r = response(peer);
	close(peer);
	return r;
}

static int status(const char *resp, const char *code)
{
	return !strncmp(resp, "HTTP/1.1 ", 9) && !strncmp(resp + 9, code, 3);
}

static void requests(void)
{
	const char *r = ask("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
	CHECK(status(r, "200"));
	CHECK(strstr(r, "Content-Type: text/plain; version=0.0.4") != NULL);
	CHECK(strstr(r, "Content-Length: 19\r\n") != NULL);
	CHECK(strstr(r, "\r\n\r\nstarling_x_total 7\n") != NULL);
	r = ask("HEAD /metrics?x HTTP/1.0\n\n");
	CHECK(status(r, "200") && strstr(r, "Content-Length: 19\r\n"));
	CHECK(!strstr(r, "starling_x_total")); /* HEAD: no body */
	CHECK(status(ask("GET / HTTP/1.1\r\n\r\n"), "404"));
	CHECK(status(ask("GET /metricsX HTTP/1.1\r\n\r\n"), "404"));
	CHECK(status(ask("POST /metrics HTTP/1.1\r\n\r\n"), "405"));
	CHECK(status(ask("GET /metrics HTTP/2.0\r\n\r\n"), "400"));
	CHECK(status(ask("GET /metrics\r\n\r\n"), "400"));
	CHECK(status(ask("\x16\x03\x01\r\n\r\n"), "400"));
	CHECK(status(ask("GET /metrics HTTP/1.1\r\nX: \x01\r\n\r\n"), "400"));
}

/* The request arrives a byte at a time: nothing is answered before the
 * blank line, then exactly one response. */
static void pieces(void)
{
	struct mhttp m;
	mhttp_open(&m, "", render, NULL);
	int peer = attach(&m, 0, 0);
	const char *req = "GET /metrics HTTP/1.1\r\nA: b\r\n\r\n";
	int early = 0;
	for (size_t i = 0; req[i + 1]; i++) {
		send(peer, req + i, 1, 0);
		early |= mhttp_step(&m, 0, 0) != POLLIN;
	}
	CHECK(!early);
	send(peer, req + strlen(req) - 1, 1, 0);
	CHECK(mhttp_step(&m, 0, 0) == 0);
	CHECK(status(response(peer), "200"));
	close(peer);
}

/* Over MHTTP_MAX_REQUEST bytes without a blank line: 431 and closed. */
static void too_big(void)
{
	struct mhttp m;
	mhttp_open(&m, "", render, NULL);
	int peer = attach(&m, 0, 0);
	static char junk[MHTTP_MAX_REQUEST + 100];
	memcpy(junk, "GET /metrics HTTP/1.1\r\n", 23);
	memset(junk + 23, 'a', sizeof junk - 23);
	send(peer, junk, sizeof junk, 0);
	unsigned want = POLLIN;
	for (int i = 0; want && i < 10; i++)
		want = mhttp_step(&m, 0, 0);
	CHECK(want == 0 && m.c[0].fd < 0);
	CHECK(status(response(peer), "431"));
	close(peer);
}

/* A request not finished by its deadline is closed; not a moment before. */
static void deadline(void)
{
	struct mhttp m;
	mhttp_open(&m, "", render, NULL);
	int peer = attach(&m, 0, 1000);
	send(peer, "GET /met", 8, 0);
	CHECK(mhttp_step(&m, 0, 1000) == POLLIN);
	mhttp_expire(&m, 1000 + MHTTP_DEADLINE_MS - 1);
	CHECK(m.c[0].fd >= 0 && mhttp_busy(&m));
	mhttp_expire(&m, 1000 + MHTTP_DEADLINE_MS);
	CHECK(m.c[0].fd < 0 && !m.c[0].in && !mhttp_busy(&m));
	CHECK(recv(peer, (char[8]){0}, 8, MSG_DONTWAIT) == 0); /* closed, nothing said */
	close(peer);
}

/* A real listener: past MHTTP_MAX_CONNS, a connection is closed at once. */
static void cap(void)
{
	struct mhttp m;
	CHECK(mhttp_open(&m, "127.0.0.1:0", render, NULL) == 0);
	struct sockaddr_storage sa;
	socklen_t len = sizeof sa;
	getsockname(m.lfd, (struct sockaddr *)&sa, &len);
	int cl[MHTTP_MAX_CONNS + 2];
	for (unsigned i = 0; i < MHTTP_MAX_CONNS + 2; i++) {
		cl[i] = socket(sa.ss_family, SOCK_STREAM, 0);
		if (connect(cl[i], (struct sockaddr *)&sa, len))
			abort();
	}
	struct pollfd p = {.fd = m.lfd, .events = POLLIN};
	unsigned opened = 0;
	while (poll(&p, 1, 1000) == 1 &&
	       __builtin_popcount(opened) + m.n_refused < MHTTP_MAX_CONNS + 2)
		opened |= mhttp_accept(&m, 0);
	CHECK(opened == (1u << MHTTP_MAX_CONNS) - 1);
	CHECK(m.n_refused == 2);
	/* the last two (the backlog is first in, first out) were closed at once */
	for (unsigned i = MHTTP_MAX_CONNS; i < MHTTP_MAX_CONNS + 2; i++) {
		struct pollfd q = {.fd = cl[i], .events = POLLIN};
		CHECK(poll(&q, 1, 5000) == 1 && recv(cl[i], (char[8]){0}, 8, 0) == 0);
	}
	mhttp_close(&m);
	CHECK(!mhttp_busy(&m) && m.lfd < 0);
	for (unsigned i = 0; i < MHTTP_MAX_CONNS + 2; i++)
		close(cl[i]);
	CHECK(mhttp_open(&m, "127.0.0.1", render, NULL) == -EINVAL);
	CHECK(mhttp_open(&m, "", render, NULL) == 0 && m.lfd < 0);
}

static void histogram(void)
{
	struct lathist h = {0};
	lathist_observe(&h, 5000);      /* on the first bound: in it */
	lathist_observe(&h, 5001);      /* just over: the next */
	lathist_observe(&h, 200000000); /* past the last: +Inf only */
	CHECK(h.bucket[0] == 1 && h.bucket[1] == 1 && h.bucket[LATHIST_BUCKETS] == 1);
	CHECK(h.count == 3 && h.sum_ns == 200010001);
	struct buf b = {0};
	CHECK(lathist_render(&b, "starling_t_seconds", "a test", &h) == 0);
	/* A labelled series of the same family, and the sum of two. */
	struct lathist two = {0};
	lathist_add(&two, &h);
	lathist_add(&two, &h);
	CHECK(two.count == 6 && two.bucket[1] == 2 && two.sum_ns == 2 * h.sum_ns);
	CHECK(lathist_render_series(&b, "starling_t_seconds", "hop=\"core\"", &two) == 0);
	CHECK(buf_append(&b, "", 1) == 0);
	const char *t = buf_head(&b);
	CHECK(strstr(t, "# TYPE starling_t_seconds histogram\n") != NULL);
	CHECK(strstr(t, "starling_t_seconds_bucket{le=\"5e-06\"} 1\n") != NULL);
	CHECK(strstr(t, "starling_t_seconds_bucket{le=\"1e-05\"} 2\n") != NULL); /* cumulative */
	CHECK(strstr(t, "starling_t_seconds_bucket{le=\"0.1\"} 2\n") != NULL);
	CHECK(strstr(t, "starling_t_seconds_bucket{le=\"+Inf\"} 3\n") != NULL);
	CHECK(strstr(t, "starling_t_seconds_count 3\n") != NULL);
	CHECK(strstr(t, "starling_t_seconds_sum 0.200010001\n") != NULL);
	CHECK(strstr(t, "starling_t_seconds_bucket{hop=\"core\",le=\"1e-05\"} 4\n") != NULL);
	CHECK(strstr(t, "starling_t_seconds_count{hop=\"core\"} 6\n") != NULL);
	buf_free(&b);
}

int main(void)
{
	requests();
	pieces();
	too_big();
	deadline();
	cap();
	histogram();
	CHECK(renders == 3); /* the 200s only (GET, HEAD, pieces) */
	CHECK_DONE();
}
