/* batchwait: waits with io_uring's minimum wait.  See batchwait.h. */
#include "batchwait.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Linux 6.12's names; liburing 2.3 predates them (the field was `pad`). */
#ifndef IORING_FEAT_MIN_TIMEOUT
#define IORING_FEAT_MIN_TIMEOUT (1U << 15)
#endif

unsigned batchwait_setup_flags(void)
{
	return IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED;
}

int batchwait_supported(const struct io_uring_params *p)
{
	return p->features & IORING_FEAT_MIN_TIMEOUT ? 0 : -EOPNOTSUPP;
}

/* Wait with the window; the raw call: liburing 2.3 has no way to pass it. */
static int batchwait_enter(struct io_uring *ring, unsigned min_wait_us, unsigned timeout_ms)
{
	struct __kernel_timespec ts = batchwait_timespec(timeout_ms);
	/* A general timeout is always given: without one the kernel ends the
	 * wait when the window closes even if nothing came, waking an idle
	 * worker every window. */
	struct io_uring_getevents_arg arg = {
		.sigmask = 0,
		.sigmask_sz = _NSIG / 8,
		.pad = min_wait_us, /* min_wait_usec */
		.ts = (unsigned long long)(uintptr_t)&ts,
	};
	long r = syscall(__NR_io_uring_enter, ring->ring_fd, 0, BATCHWAIT_NR,
			 IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg, sizeof arg);
	return r < 0 ? -errno : 0;
}

int batchwait_submit_and_wait(struct io_uring *ring, unsigned min_wait_us, unsigned timeout_ms)
{
	int rc = io_uring_submit(ring);
	return rc < 0 ? rc : batchwait_enter(ring, min_wait_us, timeout_ms);
}

int batchwait_epoll_init(struct batchwait_epoll *b, int epfd, unsigned min_wait_us)
{
	*b = (struct batchwait_epoll){.epfd = epfd, .min_wait_us = min_wait_us};
	struct io_uring_params p = {
		.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN};
	int rc = io_uring_queue_init_params(BATCHWAIT_NR * 2, &b->ring, &p);
	if (rc) {
		b->ring.ring_fd = -1;
		return rc;
	}
	if ((rc = batchwait_supported(&p))) {
		io_uring_queue_exit(&b->ring);
		b->ring.ring_fd = -1;
	}
	return rc;
}

int batchwait_epoll_wait(struct batchwait_epoll *b, int timeout_ms)
{
	if (!b->armed) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);
		if (!sqe)
			return -EBUSY;
		/* Multishot: one completion each time epfd turns ready, for as
		 * long as it lives; only the deferred ones wake us. */
		io_uring_prep_poll_multishot(sqe, b->epfd, POLLIN);
		b->armed = 1;
	}
	int rc = batchwait_submit_and_wait(&b->ring, b->min_wait_us,
					   timeout_ms < 0 ? 3600 * 1000u : (unsigned)timeout_ms);
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	io_uring_for_each_cqe(&b->ring, head, cqe) {
		if (!(cqe->flags & IORING_CQE_F_MORE))
			b->armed = 0; /* the kernel ended it (overflow, error): arm again */
		n++;
	}
	io_uring_cq_advance(&b->ring, n);
	return rc == -ETIME || rc == -EINTR ? 0 : rc;
}

void batchwait_epoll_free(struct batchwait_epoll *b)
{
	if (b->ring.ring_fd >= 0)
		io_uring_queue_exit(&b->ring);
	b->ring.ring_fd = -1;
}

int batchwait_enable(struct io_uring *ring)
{
	/* liburing 2.3 declares io_uring_enable_rings but does not export it. */
	long r = syscall(__NR_io_uring_register, ring->ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
	return r < 0 ? -errno : 0;
}
