#include "worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "c2s.h"
#include "lib/log.h"

#define WORKER_RING_ENTRIES 4096

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int listen_on(const char *addr, uint16_t port)
{
	struct sockaddr_storage ss = {0};
	socklen_t len;
	struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, addr, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(port);
		len = sizeof *v4;
	} else if (inet_pton(AF_INET6, addr, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(port);
		len = sizeof *v6;
	} else {
		return -EINVAL;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	/* SO_REUSEPORT: every worker has its own listening socket and the kernel
	 * spreads connections across them, so workers share no accept queue. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) ||
	    bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 4096)) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

static int worker_setup_bufs(struct worker *w)
{
	size_t ring_sz = WORKER_BUF_COUNT * sizeof(struct io_uring_buf);
	void *mem = mmap(NULL, ring_sz, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (mem == MAP_FAILED)
		return -errno;
	w->br = mem;
	w->bufs = malloc((size_t)WORKER_BUF_COUNT * WORKER_BUF_SIZE);
	if (!w->bufs)
		return -ENOMEM;
	struct io_uring_buf_reg reg = {
		.ring_addr = (unsigned long)mem, .ring_entries = WORKER_BUF_COUNT, .bgid = WORKER_BUF_GROUP};
	int rc = io_uring_register_buf_ring(&w->ring, &reg, 0);
	if (rc)
		return rc;
	io_uring_buf_ring_init(w->br);
	int mask = io_uring_buf_ring_mask(WORKER_BUF_COUNT);
	for (int i = 0; i < WORKER_BUF_COUNT; i++)
		io_uring_buf_ring_add(w->br, w->bufs + (size_t)i * WORKER_BUF_SIZE, WORKER_BUF_SIZE,
				      (unsigned short)i, mask, i);
	io_uring_buf_ring_advance(w->br, WORKER_BUF_COUNT);
	return 0;
}

int worker_init(struct worker *w, unsigned id, const struct config *cfg, SSL_CTX *tls_ctx)
{
	w->id = id;
	w->cfg = cfg;
	w->tls_ctx = tls_ctx;
	w->link.fd = -1;
	w->wake_fd = -1;
	struct io_uring_params p = {.flags = IORING_SETUP_COOP_TASKRUN,
				    .cq_entries = WORKER_RING_ENTRIES * 4};
	p.flags |= IORING_SETUP_CQSIZE;
	int rc = io_uring_queue_init_params(WORKER_RING_ENTRIES, &w->ring, &p);
	if (rc) {
		log_error("worker %u: io_uring setup: %s", id, strerror(-rc));
		return rc;
	}
	if ((rc = worker_setup_bufs(w))) {
		log_error("worker %u: buffer ring: %s", id, strerror(-rc));
		return rc;
	}
	if ((rc = conn_table_init(w, cfg->max_connections)))
		return rc;
	uint16_t ports[2] = {cfg->c2s_port, cfg->c2s_tls_port};
	for (int i = 0; i < 2; i++) {
		if (!ports[i])
			continue;
		int fd = listen_on(cfg->c2s_address, ports[i]);
		if (fd < 0) {
			log_error("cannot listen on %s:%u: %s", cfg->c2s_address, ports[i],
				  strerror(-fd));
			return fd;
		}
		w->listeners[w->n_listeners++] = (struct worker_listener){fd, i == 1};
	}
	w->wake_fd = eventfd(0, EFD_CLOEXEC);
	if (w->wake_fd < 0)
		return -errno;
	return uplink_connect(w);
}

struct io_uring_sqe *worker_sqe(struct worker *w)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);
	while (!sqe) {
		io_uring_submit(&w->ring);
		sqe = io_uring_get_sqe(&w->ring);
	}
	return sqe;
}

void worker_wake(struct worker *w)
{
	uint64_t one = 1;
	w->stop = 1;
	if (write(w->wake_fd, &one, sizeof one) < 0)
		log_warn("worker %u: wake: %s", w->id, strerror(errno));
}

static void arm_accept(struct worker *w, unsigned i)
{
	struct io_uring_sqe *sqe = worker_sqe(w);
	io_uring_prep_multishot_accept(sqe, w->listeners[i].fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, worker_udata(OP_ACCEPT, 0, i));
}

void worker_arm_recv(struct worker *w, struct conn *c)
{
	struct io_uring_sqe *sqe = worker_sqe(w);
	io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = WORKER_BUF_GROUP;
	io_uring_sqe_set_data64(sqe, worker_udata(OP_RECV, c->gen, conn_slot(w, c)));
	c->flags |= CONN_RECV_ARMED;
	c->inflight++;
}

static void arm_tick(struct worker *w)
{
	w->tick.tv_sec = 1;
	w->tick.tv_nsec = 0;
	struct io_uring_sqe *sqe = worker_sqe(w);
	io_uring_prep_timeout(sqe, &w->tick, 0, 0);
	io_uring_sqe_set_data64(sqe, worker_udata(OP_TICK, 0, 0));
}

static void arm_wake(struct worker *w)
{
	struct io_uring_sqe *sqe = worker_sqe(w);
	io_uring_prep_read(sqe, w->wake_fd, &w->wake_val, sizeof w->wake_val, 0);
	io_uring_sqe_set_data64(sqe, worker_udata(OP_WAKE, 0, 0));
}

static void on_accept(struct worker *w, struct io_uring_cqe *cqe, unsigned li)
{
	if (!(cqe->flags & IORING_CQE_F_MORE) && !w->stop)
		arm_accept(w, li);
	if (cqe->res < 0) {
		if (cqe->res != -ECANCELED)
			log_warn("worker %u: accept: %s", w->id, strerror(-cqe->res));
		return;
	}
	struct conn *c = conn_alloc(w, cqe->res);
	if (!c) {
		log_warn("worker %u: connection table full (%u), refusing", w->id, w->max_slots);
		close(cqe->res);
		return;
	}
	__atomic_fetch_add(&w->n_accepted, 1, __ATOMIC_RELAXED);
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	c->deadline_ms = w->now_ms + (uint64_t)w->cfg->auth_timeout * 1000;
	/* Every connection gets the same timeout, so the FIFO is in deadline order. */
	w->timeouts[w->to_tail++ % w->to_cap] = c->sid;
	if (w->to_tail - w->to_head > w->to_cap)
		w->to_head = w->to_tail - w->to_cap;
	worker_arm_recv(w, c);
	c2s_on_accept(w, c, w->listeners[li].direct_tls);
}

static void recycle_buf(struct worker *w, unsigned bid)
{
	io_uring_buf_ring_add(w->br, w->bufs + (size_t)bid * WORKER_BUF_SIZE, WORKER_BUF_SIZE,
			      (unsigned short)bid, io_uring_buf_ring_mask(WORKER_BUF_COUNT), 0);
	io_uring_buf_ring_advance(w->br, 1);
}

static void on_recv(struct worker *w, struct io_uring_cqe *cqe, struct conn *c)
{
	int more = cqe->flags & IORING_CQE_F_MORE;
	if (cqe->flags & IORING_CQE_F_BUFFER) {
		unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		if (cqe->res > 0 && !(c->flags & CONN_DEAD))
			c2s_on_data(w, c, w->bufs + (size_t)bid * WORKER_BUF_SIZE, (size_t)cqe->res);
		recycle_buf(w, bid);
	} else if (cqe->res == 0 || (cqe->res < 0 && cqe->res != -ENOBUFS)) {
		if (!(c->flags & CONN_DEAD))
			c2s_on_eof(w, c);
	}
	if (!more) {
		c->flags &= ~CONN_RECV_ARMED;
		/* -ENOBUFS: every provided buffer is in use; ask again. */
		if (cqe->res > 0 || cqe->res == -ENOBUFS) {
			if (!(c->flags & CONN_DEAD))
				worker_arm_recv(w, c);
		} else if (!(c->flags & CONN_DEAD)) {
			c2s_on_eof(w, c);
		}
		conn_op_done(w, c);
	}
}

static void on_tick(struct worker *w)
{
	arm_tick(w);
	while (w->to_head != w->to_tail) {
		uint32_t sid = w->timeouts[w->to_head % w->to_cap];
		struct conn *c = conn_by_sid(w, sid);
		if (c && !(c->flags & CONN_BOUND)) {
			if (c->deadline_ms > w->now_ms)
				break;
			log_info("conn %u: login not finished in %u s", c->sid, w->cfg->auth_timeout);
			c2s_stream_error(w, c, SE_CONNECTION_TIMEOUT);
		}
		w->to_head++;
	}
}

static void dispatch(struct worker *w, struct io_uring_cqe *cqe)
{
	uint64_t ud = io_uring_cqe_get_data64(cqe);
	enum worker_op op = (enum worker_op)(ud >> 56);
	uint32_t gen = (uint32_t)(ud >> 32) & 0xffffff, slot = (uint32_t)ud;
	switch (op) {
	case OP_ACCEPT:
		on_accept(w, cqe, slot);
		return;
	case OP_LINK_RECV:
		uplink_on_recv(w, cqe->res);
		return;
	case OP_LINK_SEND:
		uplink_on_send(w, cqe->res);
		return;
	case OP_TICK:
		if (!w->stop)
			on_tick(w);
		return;
	case OP_WAKE:
		return;
	case OP_RECV:
	case OP_SEND:
		break;
	}
	if (slot >= w->max_slots || (w->slots[slot].gen & 0xffffff) != gen) {
		/* A completion for a freed slot: only its buffer matters. */
		if (cqe->flags & IORING_CQE_F_BUFFER)
			recycle_buf(w, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
		return;
	}
	struct conn *c = &w->slots[slot];
	if (op == OP_RECV)
		on_recv(w, cqe, c);
	else
		conn_on_send(w, c, cqe->res);
}

static void worker_shutdown(struct worker *w)
{
	for (uint32_t i = 0; i < w->max_slots; i++) {
		struct conn *c = &w->slots[i];
		if (c->fd >= 0 && !(c->flags & CONN_DEAD) && c->state != C2S_CLOSING)
			c2s_stream_error(w, c, SE_SYSTEM_SHUTDOWN);
	}
	/* Best effort: give queued stream errors and link frames one chance. */
	for (uint32_t i = 0; i < w->max_slots; i++) {
		struct conn *c = &w->slots[i];
		if (c->fd >= 0 && !(c->flags & CONN_SENDING) && buf_avail(&c->out))
			(void)!send(c->fd, buf_head(&c->out), buf_avail(&c->out),
				    MSG_DONTWAIT | MSG_NOSIGNAL);
	}
}

void *worker_main(void *arg)
{
	struct worker *w = arg;
	w->now_ms = now_ms();
	for (unsigned i = 0; i < w->n_listeners; i++)
		arm_accept(w, i);
	arm_tick(w);
	arm_wake(w);
	uplink_arm_recv(w);
	while (!w->stop) {
		conn_flush_all(w);
		uplink_flush(w);
		int rc = io_uring_submit_and_wait(&w->ring, 1);
		if (rc < 0 && rc != -EINTR) {
			log_error("worker %u: io_uring: %s", w->id, strerror(-rc));
			break;
		}
		w->now_ms = now_ms();
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;
		io_uring_for_each_cqe(&w->ring, head, cqe)
		{
			dispatch(w, cqe);
			n++;
		}
		io_uring_cq_advance(&w->ring, n);
	}
	if (w->stop == 2) {
		/* Lost the core: no session can work without it. Stop the process
		 * so its supervisor restarts cm and core together. */
		kill(getpid(), SIGUSR1);
	}
	worker_shutdown(w);
	return NULL;
}

void worker_free(struct worker *w)
{
	conn_table_free(w);
	/* Sessions closed above queued SESSION_CLOSE frames: send them. */
	if (w->link.fd >= 0 && buf_avail(&w->link.out))
		(void)!send(w->link.fd, buf_head(&w->link.out), buf_avail(&w->link.out),
			    MSG_NOSIGNAL);
	uplink_free(&w->link);
	for (unsigned i = 0; i < w->n_listeners; i++)
		close(w->listeners[i].fd);
	if (w->wake_fd >= 0)
		close(w->wake_fd);
	if (w->ring.ring_fd > 0)
		io_uring_queue_exit(&w->ring);
	if (w->br)
		munmap(w->br, WORKER_BUF_COUNT * sizeof(struct io_uring_buf));
	free(w->bufs);
}
