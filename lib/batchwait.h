/* batchwait: a loop's wait that gathers completions for a while before it
 * wakes (the cm's workers: [c2s] batch_wait_us, by default after a busy
 * turn only, [c2s] batch_wait_busy; the core: [core] batch_wait_us, off by
 * default).
 *
 * At an ordinary load each message wakes a sleeping worker on its own, and a
 * wake-up costs more than the message's work (docs/performance.md,
 * "Ordinary load").  io_uring's minimum wait (Linux 6.12) lets the worker
 * sleep up to batch_wait_us until BATCHWAIT_NR completions are there, then
 * return with what came; with deferred task running the completions that
 * arrive meanwhile do not wake it.  Latency grows by up to that time per
 * hop; CPU per message falls.  An idle worker is not woken by the window:
 * past it, the first completion ends the wait. */
#ifndef STARLING_BATCHWAIT_H
#define STARLING_BATCHWAIT_H
#include <liburing.h>

#define BATCHWAIT_NR 64

/* A wait's limit in milliseconds as io_uring takes it. */
static inline struct __kernel_timespec batchwait_timespec(unsigned ms)
{
	return (struct __kernel_timespec){.tv_sec = ms / 1000,
					  .tv_nsec = (long long)(ms % 1000) * 1000000};
}

/* Setup flags for a ring that waits this way: it must be created
 * disabled and enabled by the thread that will use it (single issuer). */
unsigned batchwait_setup_flags(void);
/* Enable such a ring: call it from the thread that will use the ring. */
int batchwait_enable(struct io_uring *ring);
/* 0 when the kernel behind a ring set up with those flags knows the
 * minimum wait, else -EOPNOTSUPP. */
int batchwait_supported(const struct io_uring_params *p);
/* Submit what is queued, then wait up to min_wait_us for BATCHWAIT_NR
 * completions, at most timeout_ms (> 0) in all.  Returns 0 or a negative
 * errno from the ring (-ETIME, -EINTR: nothing wrong). */
int batchwait_submit_and_wait(struct io_uring *ring, unsigned min_wait_us, unsigned timeout_ms);

/* An epoll loop's wait (the core): a ring that only watches the epoll fd.
 * The loop polls epoll without waiting; when nothing is ready it sleeps
 * here, then polls epoll again. */
struct batchwait_epoll {
	struct io_uring ring;
	int epfd;
	int armed; /* the multishot poll on epfd is in flight */
	unsigned min_wait_us;
};

/* 0, -EOPNOTSUPP (no minimum wait in this kernel) or a negative errno.
 * The ring belongs to the calling thread. */
int batchwait_epoll_init(struct batchwait_epoll *b, int epfd, unsigned min_wait_us);
/* Sleep until epfd has had something ready for min_wait_us (or
 * BATCHWAIT_NR times), or timeout_ms (-1: no limit) passed.  0 or a
 * negative errno. */
int batchwait_epoll_wait(struct batchwait_epoll *b, int timeout_ms);
void batchwait_epoll_free(struct batchwait_epoll *b);

#endif
