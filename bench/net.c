/* net: the bench's io_uring.  The ring connects sockets and reports
 * readiness (one-shot polls); data moves with recv()/send() on non-blocking
 * sockets through one shared receive buffer, so holding many idle sessions
 * costs no per-connection buffers.  user_data = connection index << 8 | op. */
#include <errno.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/log.h"
#include "bench.h"

enum { OP_CONNECT = 1, OP_POLLIN = 2, OP_POLLOUT = 3 };
#define RING_ENTRIES 4096
#define RECV_CAP 65536
#define RECV_ROUNDS 4 /* reads per readiness event, so one busy socket cannot starve others */

int net_init(struct bench_run *r)
{
	/* One thread submits and reaps: completions' task work can wait until
	 * the thread asks for events (fewer interrupts and wake-ups). */
	struct io_uring_params p = { 0 };
	p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	p.cq_entries = RING_ENTRIES * 4;
	int rc = io_uring_queue_init_params(RING_ENTRIES, &r->ring, &p);
	if (rc == -EINVAL) { /* kernel before 6.1 */
		p = (struct io_uring_params){ .flags = IORING_SETUP_CQSIZE,
					      .cq_entries = RING_ENTRIES * 4 };
		rc = io_uring_queue_init_params(RING_ENTRIES, &r->ring, &p);
	}
	if (rc < 0)
		log_error("io_uring_queue_init: %s", strerror(-rc));
	return rc;
}

void net_exit(struct bench_run *r)
{
	io_uring_queue_exit(&r->ring);
}

static struct io_uring_sqe *get_sqe(struct bench_run *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
	if (!sqe) { /* SQ full: hand the batch to the kernel and retry */
		io_uring_submit(&r->ring);
		sqe = io_uring_get_sqe(&r->ring);
	}
	return sqe;
}

static int arm_poll(struct bench_run *r, struct bench_conn *c, int op)
{
	struct io_uring_sqe *sqe = get_sqe(r);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_poll_add(sqe, c->fd, op == OP_POLLIN ? POLLIN : POLLOUT);
	io_uring_sqe_set_data64(sqe, (uint64_t)c->idx << 8 | (uint64_t)op);
	if (op == OP_POLLIN)
		c->poll_in = 1;
	else
		c->poll_out = 1;
	return 0;
}

void net_close(struct bench_run *r, struct bench_conn *c)
{
	(void)r;
	if (c->fd >= 0) {
		/* shutdown() completes any poll still in flight, which drops the
		 * ring's reference to the socket so close() really closes it */
		shutdown(c->fd, SHUT_RDWR);
		close(c->fd);
		c->fd = -1;
	}
	if (c->state != CS_DEAD) {
		c->state = CS_DEAD;
	}
	xmpp_free(c);
}

/* Several source addresses pass the ephemeral-port limit of one (4-tuples
 * to one server port).  IP_BIND_ADDRESS_NO_PORT leaves the port choice to
 * connect(), which can then reuse a port towards another destination. */
static int bind_source(const struct bench_run *r, const struct bench_conn *c)
{
	int one = 1;
	const struct sockaddr_in *a = &r->src[c->idx % r->opt.src_addrs];
	if (setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one))
		return -errno;
	return bind(c->fd, (const struct sockaddr *)a, sizeof *a) ? -errno : 0;
}

void net_start(struct bench_run *r, struct bench_conn *c)
{
	r->started++;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		c->state = CS_CONNECTING;
		xmpp_fail(r, c, FAIL_CONNECT, strerror(errno));
		return;
	}
	int one = 1;
	if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one))
		log_warn("TCP_NODELAY: %s", strerror(errno));
	if (r->src && bind_source(r, c)) {
		c->state = CS_CONNECTING;
		xmpp_fail(r, c, FAIL_CONNECT, strerror(errno));
		net_close(r, c);
		return;
	}
	struct io_uring_sqe *sqe = get_sqe(r);
	c->state = CS_CONNECTING;
	if (!sqe) {
		xmpp_fail(r, c, FAIL_CONNECT, "submission queue full");
		net_close(r, c);
		return;
	}
	io_uring_prep_connect(sqe, c->fd, (const struct sockaddr *)&r->addr, sizeof r->addr);
	io_uring_sqe_set_data64(sqe, (uint64_t)c->idx << 8 | OP_CONNECT);
}

void net_flush(struct bench_run *r, struct bench_conn *c)
{
	while (c->fd >= 0 && buf_avail(&c->out)) {
		ssize_t n = send(c->fd, buf_head(&c->out), buf_avail(&c->out), MSG_NOSIGNAL);
		if (n > 0) {
			buf_consume(&c->out, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if (!c->poll_out && arm_poll(r, c, OP_POLLOUT))
				break;
			return;
		}
		xmpp_fail(r, c, FAIL_CLOSED, n < 0 ? strerror(errno) : "send returned 0");
		net_close(r, c);
		return;
	}
	if (c->state == CS_DEAD && c->fd >= 0)
		net_close(r, c);
}

static void on_connect(struct bench_run *r, struct bench_conn *c, int res)
{
	if (res < 0) {
		xmpp_fail(r, c, FAIL_CONNECT, strerror(-res));
		net_close(r, c);
		return;
	}
	if (xmpp_connected(r, c) || arm_poll(r, c, OP_POLLIN)) {
		xmpp_fail(r, c, FAIL_PROTOCOL, "start");
		net_close(r, c);
		return;
	}
	net_flush(r, c);
}

static void on_readable(struct bench_run *r, struct bench_conn *c)
{
	static char in[RECV_CAP]; /* one thread: shared by all connections */
	for (int i = 0; i < RECV_ROUNDS && c->state != CS_DEAD; i++) {
		ssize_t n = recv(c->fd, in, sizeof in, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n <= 0) {
			xmpp_fail(r, c, FAIL_CLOSED, n ? strerror(errno) : "EOF");
			break;
		}
		if (xmpp_input(r, c, in, (size_t)n))
			break;
	}
	if (c->state != CS_DEAD && arm_poll(r, c, OP_POLLIN))
		xmpp_fail(r, c, FAIL_PROTOCOL, "cannot poll");
	net_flush(r, c);
}

static void handle(struct bench_run *r, uint64_t ud, int res)
{
	uint64_t idx = ud >> 8;
	if (idx >= r->opt.n)
		return;
	struct bench_conn *c = &r->conns[idx];
	switch (ud & 0xff) {
	case OP_CONNECT:
		if (c->fd >= 0)
			on_connect(r, c, res);
		break;
	case OP_POLLIN:
		c->poll_in = 0;
		if (c->fd >= 0)
			on_readable(r, c);
		break;
	case OP_POLLOUT:
		c->poll_out = 0;
		if (c->fd >= 0)
			net_flush(r, c);
		break;
	}
}

int net_wait(struct bench_run *r, uint64_t timeout_ns)
{
	struct __kernel_timespec ts = { .tv_sec = (long long)(timeout_ns / 1000000000u),
					.tv_nsec = (long long)(timeout_ns % 1000000000u) };
	struct io_uring_cqe *cqe;
	int rc = io_uring_submit_and_wait_timeout(&r->ring, &cqe, 1, &ts, NULL);
	if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN)
		return rc;
	unsigned head, seen = 0;
	io_uring_for_each_cqe(&r->ring, head, cqe) {
		handle(r, cqe->user_data, cqe->res);
		seen++;
	}
	io_uring_cq_advance(&r->ring, seen);
	return 0;
}
