#include "worker.h"
#include "connlimit.h"
#include "shape.h"
#include "throttle.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "c2s.h"
#include "lib/batchwait.h"
#include "lib/xmlctx.h"
#include "tls/record.h"
#include "connlog.h"
#include "handoff.h"
#include "relink.h"
#include "sm.h"
#include "lib/stanza.h"
#include "lib/log.h"

#define WORKER_RING_ENTRIES 4096
/* The longest a batching wait sleeps with nothing due (it needs a bound). */
#define WORKER_IDLE_WAIT_MS 1000

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

/* The worker's ring, with the flags of [c2s] batch_wait_us when it is set and
 * the kernel has io_uring's minimum wait (Linux 6.12).  Without it the window
 * is off and the ring is the plain one: a kernel before 6.1 would refuse
 * DEFER_TASKRUN, and one before 6.12 would gain nothing from it. */
static int worker_ring_init(struct worker *w)
{
	const struct config *cfg = w->cfg;
	struct io_uring_params p = {.flags = IORING_SETUP_CQSIZE | IORING_SETUP_COOP_TASKRUN,
				    .cq_entries = WORKER_RING_ENTRIES * 4};
	if (cfg->batch_wait_us) {
		struct io_uring_params b = p;
		b.flags = IORING_SETUP_CQSIZE | batchwait_setup_flags();
		int rc = io_uring_queue_init_params(WORKER_RING_ENTRIES, &w->ring, &b);
		if (!rc && !batchwait_supported(&b)) {
			w->batch_wait_us = cfg->batch_wait_us;
			log_info("worker %u: each wait gathers completions for up to %u us "
				 "after a turn that handled >= %u", w->id, w->batch_wait_us,
				 cfg->batch_wait_busy);
			return 0;
		}
		if (rc) {
			log_info("worker %u: io_uring refused a batching ring (%s): "
				 "batch_wait_us is off", w->id, strerror(-rc));
		} else {
			io_uring_queue_exit(&w->ring);
			log_info("worker %u: this kernel has no io_uring minimum wait "
				 "(Linux 6.12): batch_wait_us is off", w->id);
		}
	}
	int rc = io_uring_queue_init_params(WORKER_RING_ENTRIES, &w->ring, &p);
	if (rc)
		log_error("worker %u: io_uring setup: %s", w->id, strerror(-rc));
	return rc;
}

int worker_init(struct worker *w, unsigned id, const struct config *cfg, struct tls_current *tls)
{
	w->id = id;
	w->cfg = cfg;
	w->tls = tls;
	w->link.fd = -1;
	w->wake_fd = -1;
	int rc = worker_ring_init(w);
	if (rc)
		return rc;
	if ((rc = bufring_init(&w->rx, &w->ring, WORKER_BUF_GROUP))) {
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
		w->listeners[w->n_listeners++] = (struct worker_listener){.fd = fd, .direct_tls = i == 1};
	}
	if ((rc = cm_metrics_init(w)))
		return rc;
	w->wake_fd = eventfd(0, EFD_CLOEXEC);
	if (w->wake_fd < 0)
		return -errno;
	return uplink_connect(w);
}

struct io_uring_sqe *worker_sqe(struct worker *w)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);
	while (!sqe) {
		w->n_sq_full++;
		w->n_sqes += io_uring_sq_ready(&w->ring);
		int rc = io_uring_submit(&w->ring);
		if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
			/* The kernel refuses our ring: an invariant, not an input. */
			log_error("worker %u: io_uring submit: %s", w->id, strerror(-rc));
			abort();
		}
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
	w->listeners[i].armed = 1;
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

/* Over max_connections_per_address.  RFC 6120 §4.9.3.15 <policy-violation/>,
 * sent at once, before the client's header (§4.9.1.1: our header, then the
 * error), so the client is told why rather than seeing a bare close, and
 * ends its reconnect loop per its stream-error handling instead of retrying
 * at once.  On the direct TLS port saying it would cost a handshake: the
 * connection is just closed. */
static void refuse_address(struct worker *w, struct conn *c)
{
	w->n_refused_per_address++;
	conn_log(LOG_LEVEL_DEBUG, c, "too many connections from its address");
	if (c->flags & CONN_DIRECT_TLS)
		conn_kill(w, c);
	else
		c2s_stream_error_app(w, c, SE_POLICY_VIOLATION,
				     "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams' xml:lang='en'>"
				     "too many connections from your address</text>");
}

static void on_accept(struct worker *w, struct io_uring_cqe *cqe, unsigned li)
{
	int res = cqe->res;
	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		w->listeners[li].armed = 0;
		/* Out of descriptors or memory: re-arming now would fail at once and
		 * spin; the next tick tries again. */
		if (!w->stop && res != -EMFILE && res != -ENFILE && res != -ENOMEM && res != -ENOBUFS)
			arm_accept(w, li);
	}
	if (res < 0) {
		if (res != -ECANCELED)
			log_warn("worker %u: accept: %s", w->id, strerror(-res));
		return;
	}
	struct conn *c = conn_alloc(w, res);
	if (!c) {
		w->n_refused++; /* logged once per tick: a flood must not flood the log */
		close(res);
		return;
	}
	__atomic_fetch_add(&w->n_accepted, 1, __ATOMIC_RELAXED);
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	conn_timer_set(w, c, CONN_TIMER_LOGIN, (uint64_t)w->cfg->auth_timeout * 1000);
	shape_init(w, c);
	worker_arm_recv(w, c);
	c2s_on_accept(w, c, w->listeners[li].direct_tls);
	/* Out of memory for the table admits the connection uncounted. */
	if (connlimit_acquire(w->connlimit, c->fd, &c->peer) == 1)
		refuse_address(w, c);
}

void worker_cancel_recv(struct worker *w, struct conn *c)
{
	struct io_uring_sqe *sqe = worker_sqe(w);
	io_uring_prep_cancel64(sqe, worker_udata(OP_RECV, c->gen, conn_slot(w, c)), 0);
	io_uring_sqe_set_data64(sqe, worker_udata(OP_CANCEL, 0, 0));
}

/* Backpressure (docs/link-protocol.md): stop this connection's multishot
 * recv; uplink resumes it once the link drains. */
static void pause_conn(struct worker *w, struct conn *c)
{
	if (w->n_paused == w->cap_paused) {
		uint32_t cap = w->cap_paused ? 2 * w->cap_paused : 64;
		uint32_t *p = realloc(w->paused, cap * sizeof *p);
		if (!p)
			return; /* keep reading: memory is short, not the link */
		w->paused = p;
		w->cap_paused = cap;
	}
	w->paused[w->n_paused++] = c->sid;
	c->flags |= CONN_PAUSED;
	if (c->flags & CONN_RECV_ARMED)
		worker_cancel_recv(w, c);
}

void worker_resume_reading(struct worker *w)
{
	w->link_paused = 0;
	for (uint32_t i = 0; i < w->n_paused; i++) {
		struct conn *c = conn_by_sid(w, w->paused[i]);
		if (!c || !(c->flags & CONN_PAUSED) || (c->flags & CONN_DEAD))
			continue;
		c->flags &= (uint32_t)~CONN_PAUSED;
		if (!(c->flags & (CONN_RECV_ARMED | CONN_INPUT_DONE | CONN_SHAPED)))
			worker_arm_recv(w, c);
	}
	w->n_paused = 0;
}

static void recv_ended(struct worker *w, struct conn *c, int res)
{
	c->flags &= (uint32_t)~CONN_RECV_ARMED;
	if (c->flags & (CONN_DEAD | CONN_INPUT_DONE) || w->stop)
		return;
	if (res > 0 || res == -ENOBUFS || res == -ECANCELED) {
		/* Ended by a full buffer ring or by our pause: ask again unless
		 * paused, or the link is backed up (then pause: the resume re-arms). */
		if (w->link_paused && !(c->flags & CONN_PAUSED) &&
		    (!w->link.down || (c->flags & CONN_BOUND)))
			pause_conn(w, c);
		if (!(c->flags & (CONN_PAUSED | CONN_SHAPED)))
			worker_arm_recv(w, c);
	} else {
		c2s_on_eof(w, c);
	}
}

static void on_recv(struct worker *w, struct io_uring_cqe *cqe, struct conn *c)
{
	int more = cqe->flags & IORING_CQE_F_MORE;
	if (cqe->flags & IORING_CQE_F_BUFFER) {
		unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		if (cqe->res > 0)
			w->n_bytes_in += (uint64_t)cqe->res;
		if (cqe->res > 0 && !(c->flags & (CONN_DEAD | CONN_INPUT_DONE))) {
			c2s_on_data(w, c, bufring_data(&w->rx, bid), (size_t)cqe->res);
			shape_charge(w, c, (size_t)cqe->res);
		} else if (cqe->res > 0 && (c->flags & CONN_HANDOFF)) {
			handoff_carry(w, c, bufring_data(&w->rx, bid), (size_t)cqe->res);
		}
		bufring_recycle(&w->rx, bid);
		if (more && !w->link_paused && uplink_backed_up(w))
			w->link_paused = 1;
		/* Without a core only sessions wait; a login goes on, to be told
		 * to try again (relink.c). */
		if (more && w->link_paused && !(c->flags & (CONN_PAUSED | CONN_DEAD)) &&
		    (!w->link.down || (c->flags & CONN_BOUND)))
			pause_conn(w, c);
	}
	if (!more) {
		recv_ended(w, c, cqe->res);
		conn_op_done(w, c);
	}
}

static void on_tick(struct worker *w)
{
	arm_tick(w);
	if (w->n_refused) {
		log_warn("worker %u: connection table full (%u): refused %llu connection(s)",
			 w->id, w->max_slots, (unsigned long long)w->n_refused);
		w->n_refused = 0;
	}
	conn_timers_run(w);
	shape_tick(w);
	uplink_retry(w);
	cm_metrics_tick(w);
	uplink_report(w);
	for (unsigned i = 0; i < w->n_listeners; i++)
		if (!w->listeners[i].armed)
			arm_accept(w, i);
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
	case OP_CANCEL:
		return;
	case OP_METRICS_ACCEPT:
	case OP_METRICS_IO:
		cm_metrics_on_cqe(w, op == OP_METRICS_ACCEPT, gen, slot, cqe->res);
		return;
	case OP_HANDOFF:
		sm_resume_arrive(w, (struct handoff *)(uintptr_t)(ud & ((1ull << 56) - 1)));
		return;
	case OP_HANDOFF_SENT:
		handoff_sent(w, (struct handoff *)(uintptr_t)(ud & ((1ull << 56) - 1)), cqe->res);
		return;
	case OP_RECV:
	case OP_SEND:
		break;
	}
	if (slot >= w->max_slots || (w->slots[slot].gen & 0xffffff) != gen) {
		/* A completion for a freed slot: only its buffer matters. */
		if (cqe->flags & IORING_CQE_F_BUFFER)
			bufring_recycle(&w->rx, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
		return;
	}
	struct conn *c = &w->slots[slot];
	if (op == OP_RECV)
		on_recv(w, cqe, c);
	else
		conn_on_send(w, c, cqe->res);
}

/* One loop turn: start sends, submit, wait (timeout_ms; 0 = until something
 * completes), dispatch every completion.  Returns completions handled or a
 * negative errno when the ring itself failed. */
static int worker_turn(struct worker *w, unsigned timeout_ms)
{
	conn_flush_all(w);
	uplink_flush(w);
	struct io_uring_cqe *cqe;
	int rc;
	w->n_sqes += io_uring_sq_ready(&w->ring);
	if (w->batch_wait_us && w->last_cqes >= w->cfg->batch_wait_busy) {
		w->n_batched_waits++;
		rc = batchwait_submit_and_wait(&w->ring, w->batch_wait_us,
					       timeout_ms ? timeout_ms : WORKER_IDLE_WAIT_MS);
	} else if (timeout_ms) {
		struct __kernel_timespec ts = batchwait_timespec(timeout_ms);
		rc = io_uring_submit_and_wait_timeout(&w->ring, &cqe, 1, &ts, NULL);
	} else {
		rc = io_uring_submit_and_wait(&w->ring, 1);
	}
	if (rc < 0 && rc != -EINTR && rc != -ETIME && rc != -EAGAIN && rc != -EBUSY)
		return rc;
	w->turn_ns = lathist_now_ns();
	w->now_ms = w->turn_ns / 1000000;
	unsigned head, n = 0;
	io_uring_for_each_cqe(&w->ring, head, cqe)
	{
		dispatch(w, cqe);
		n++;
	}
	io_uring_cq_advance(&w->ring, n);
	w->n_cqes += n;
	w->last_cqes = n;
	return (int)n;
}

static int worker_busy(struct worker *w)
{
	/* A lost link will not drain: waiting for it would only delay the exit. */
	return worker_live(w) || (!w->link.down && (w->link.send_busy || buf_avail(&w->link.out)));
}

/* Tell every client (<system-shutdown/>) but those whose sessions the core
 * keeps for them to resume, let the ring deliver that and the
 * sessions' ends to the core for up to a second, then cancel whatever is
 * still in flight so no operation outlives the memory it names. */
static void worker_shutdown(struct worker *w)
{
	for (uint32_t i = 0; i < w->max_slots; i++) {
		struct conn *c = &w->slots[i];
		if (sm_park(w, c))
			continue; /* the core keeps it for a cm to take up */
		if (c->flags & CONN_DETACHED)
			sm_expire(w, c); /* its session ends with the others */
		else if (c->fd >= 0 && !(c->flags & CONN_DEAD) && c->state != C2S_CLOSING)
			c2s_stream_error(w, c, SE_SYSTEM_SHUTDOWN);
	}
	uint64_t end = now_ms() + 1000;
	while (worker_busy(w) && w->now_ms < end)
		if (worker_turn(w, 100) < 0)
			break;
	struct io_uring_sqe *sqe = worker_sqe(w);
	io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
	io_uring_sqe_set_data64(sqe, worker_udata(OP_CANCEL, 0, 0));
	end = now_ms() + 500;
	while (worker_turn(w, 50) > 0 && w->now_ms < end)
		;
}

void *worker_main(void *arg)
{
	struct worker *w = arg;
	w->now_ms = now_ms();
	/* A batching ring was made disabled: it belongs to the thread that
	 * enables it (single issuer), which must be this one. */
	if (w->ring.flags & IORING_SETUP_R_DISABLED) {
		int rc = batchwait_enable(&w->ring);
		if (rc) {
			log_error("worker %u: io_uring enable: %s", w->id, strerror(-rc));
			kill(getpid(), SIGUSR1);
			return NULL;
		}
	}
	__atomic_store_n(&w->ready, 1, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < w->n_listeners; i++)
		arm_accept(w, i);
	arm_tick(w);
	arm_wake(w);
	cm_metrics_start(w);
	uplink_arm_recv(w);
	while (!w->stop) {
		/* An acknowledgement waiting for the core sets the longest sleep. */
		uint64_t due = linkack_due(&w->link.ack);
		int rc = worker_turn(w, !due ? 0 : due > w->now_ms ? (unsigned)(due - w->now_ms) : 1);
		if (rc < 0) {
			log_error("worker %u: io_uring: %s", w->id, strerror(-rc));
			w->stop = 2;
		}
	}
	if (w->stop == 2) {
		/* Lost the core or the ring: this worker cannot serve anyone, and its
		 * listening socket would keep taking connections. Stop the process so
		 * its supervisor restarts cm and core together. */
		kill(getpid(), SIGUSR1);
	}
	worker_shutdown(w);
	xmlctx_thread_end();
	rec_thread_done();
	return NULL;
}

/* Last words on the link, without blocking on a core that may be stuck. */
static void link_send_rest(struct uplink *l)
{
	struct buf *q[2] = {&l->sending, &l->out};
	for (int i = 0; i < 2 && l->fd >= 0; i++) {
		if (!buf_avail(q[i]))
			continue;
		ssize_t n = send(l->fd, buf_head(q[i]), buf_avail(q[i]), MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < (ssize_t)buf_avail(q[i]))
			break; /* a torn frame would corrupt the link: stop here */
	}
}

void worker_free(struct worker *w)
{
	/* The ring goes first: nothing in flight may name memory freed below. */
	if (w->ring.ring_fd > 0)
		io_uring_queue_exit(&w->ring);
	w->ring.ring_fd = -1;
	conn_table_free(w);
	SSL_CTX_free(w->tls_ctx);
	w->tls_ctx = NULL;
	/* Sessions still open queue SESSION_CLOSE frames as they are freed. */
	if (!w->link.send_busy)
		link_send_rest(&w->link);
	uplink_free(&w->link);
	for (unsigned i = 0; i < w->n_listeners; i++)
		close(w->listeners[i].fd);
	cm_metrics_free(w);
	if (w->wake_fd >= 0)
		close(w->wake_fd);
	bufring_free(&w->rx);
	free(w->paused);
	free(w->shaped);
	throttle_free(w);
	sm_replies_free(w);
	while (w->handoffs) {
		struct handoff *h = w->handoffs;
		w->handoffs = h->next;
		handoff_free(h);
	}
}
