/* net: the bench's io_uring.  The ring connects sockets and receives with
 * one multishot recv per connection into a ring of provided buffers shared
 * by all connections, so an idle session holds no receive buffer and a busy
 * one costs one completion per arrival (no poll, no recv call, no re-arm).
 * Sends are plain send() on the non-blocking socket, with a one-shot POLLOUT
 * when the socket is full.  user_data = connection index << 16 | attempt
 * (bench_conn.gen) << 8 | op. */
#include <errno.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/log.h"
#include "bench.h"

enum { OP_CONNECT = 1, OP_RECV = 2, OP_POLLOUT = 3 };
#define RING_ENTRIES 4096
#define BUF_GROUP 1

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
	if (rc < 0) {
		log_error("io_uring_queue_init: %s", strerror(-rc));
		return rc;
	}
	rc = bufring_init(&r->rx, &r->ring, BUF_GROUP);
	if (rc)
		log_error("io_uring buffer ring: %s", strerror(-rc));
	return rc;
}

void net_exit(struct bench_run *r)
{
	io_uring_queue_exit(&r->ring);
	bufring_free(&r->rx);
}

/* user_data names a connection by its place in this thread's array and the
 * attempt: a slot that logs in again (--faults) still gets the completions
 * of its old, closed socket. */
static uint64_t tag(const struct bench_run *r, const struct bench_conn *c, unsigned op)
{
	return (uint64_t)(c - r->conns) << 16 | (uint64_t)c->gen << 8 | op;
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

static int arm_pollout(struct bench_run *r, struct bench_conn *c)
{
	struct io_uring_sqe *sqe = get_sqe(r);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_poll_add(sqe, c->fd, POLLOUT);
	io_uring_sqe_set_data64(sqe, tag(r, c, OP_POLLOUT));
	c->poll_out = 1;
	return 0;
}

static int arm_recv(struct bench_run *r, struct bench_conn *c)
{
	struct io_uring_sqe *sqe = get_sqe(r);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BUF_GROUP;
	io_uring_sqe_set_data64(sqe, tag(r, c, OP_RECV));
	c->recv_armed = 1;
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
	if (!faults_again(c))
		BENCH_COUNT(r, started, 1);
	const struct sockaddr_storage *to = &r->addr[r->opt.nports ? c->idx % r->opt.nports : 0];
	c->fd = socket(to->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
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
	io_uring_prep_connect(sqe, c->fd, (const struct sockaddr *)to, r->addr_len);
	io_uring_sqe_set_data64(sqe, tag(r, c, OP_CONNECT));
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
			if (!c->poll_out && arm_pollout(r, c))
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
	if (xmpp_connected(r, c) || arm_recv(r, c)) {
		xmpp_fail(r, c, FAIL_PROTOCOL, "start");
		net_close(r, c);
		return;
	}
	net_flush(r, c);
}

/* One multishot completion: res bytes in a provided buffer, or the end of
 * the multishot (no IORING_CQE_F_MORE): EOF, an error, or the buffer ring
 * ran dry (-ENOBUFS), after which it is armed again. */
static void on_recv(struct bench_run *r, struct bench_conn *c, const struct io_uring_cqe *cqe)
{
	int res = cqe->res;
	if (cqe->flags & IORING_CQE_F_BUFFER) {
		unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		if (res > 0 && c->fd >= 0 && c->state != CS_DEAD)
			xmpp_input(r, c, bufring_data(&r->rx, bid), (size_t)res);
		bufring_recycle(&r->rx, bid); /* the TLS layer and the framer keep copies */
	}
	if (!(cqe->flags & IORING_CQE_F_MORE))
		c->recv_armed = 0;
	if (c->fd < 0)
		return;
	if (res == 0 || (res < 0 && res != -ENOBUFS)) {
		xmpp_fail(r, c, FAIL_CLOSED, res ? strerror(-res) : "EOF");
	} else if (!c->recv_armed && c->state != CS_DEAD && arm_recv(r, c)) {
		xmpp_fail(r, c, FAIL_PROTOCOL, "cannot arm recv");
	}
	net_flush(r, c);
}

static void handle(struct bench_run *r, const struct io_uring_cqe *cqe)
{
	uint64_t idx = cqe->user_data >> 16;
	if (idx >= r->nconns)
		return;
	struct bench_conn *c = &r->conns[idx];
	if ((uint8_t)(cqe->user_data >> 8) != c->gen) {
		if (cqe->flags & IORING_CQE_F_BUFFER)
			bufring_recycle(&r->rx, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
		return;
	}
	switch (cqe->user_data & 0xff) {
	case OP_CONNECT:
		if (c->fd >= 0)
			on_connect(r, c, cqe->res);
		break;
	case OP_RECV:
		on_recv(r, c, cqe);
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
		handle(r, cqe);
		seen++;
	}
	io_uring_cq_advance(&r->ring, seen);
	return 0;
}
