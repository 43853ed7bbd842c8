/* bufring: provided receive buffers (an io_uring buffer ring) shared by every
 * connection of one ring, so that a connection owns a receive buffer only
 * while a completion holds one: idle connections own none.  Used by the cm's
 * workers and by starling-bench, one per io_uring. */
#ifndef STARLING_BUFRING_H
#define STARLING_BUFRING_H
#include <liburing.h>
#include <stddef.h>

#define BUFRING_COUNT 256   /* buffers per ring (a power of two) */
#define BUFRING_SIZE 16384  /* one TLS record */

struct bufring {
	struct io_uring_buf_ring *br; /* mmap'd (page aligned, as the kernel wants) */
	char *bufs;		      /* BUFRING_COUNT * BUFRING_SIZE, malloc'd */
};

/* Registers a ring of BUFRING_COUNT buffers as buffer group `group` of ring
 * and hands them all to the kernel.  Returns 0 or a negative errno; on
 * failure what was allocated is freed by bufring_free(). */
int bufring_init(struct bufring *b, struct io_uring *ring, unsigned short group);
/* Gives buffer bid back to the kernel once its bytes have been consumed. */
void bufring_recycle(struct bufring *b, unsigned bid);
/* The bytes of buffer bid (from a completion's IORING_CQE_BUFFER_SHIFT bits). */
static inline char *bufring_data(const struct bufring *b, unsigned bid)
{
	return b->bufs + (size_t)bid * BUFRING_SIZE;
}
/* Frees the memory; call after io_uring_queue_exit() (or on a failed init). */
void bufring_free(struct bufring *b);

#endif
