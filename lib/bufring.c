/* bufring: setup, recycling and release of a provided-buffer ring. */
#include "bufring.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

int bufring_init(struct bufring *b, struct io_uring *ring, unsigned short group)
{
	size_t ring_sz = BUFRING_COUNT * sizeof(struct io_uring_buf);
	void *mem = mmap(NULL, ring_sz, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (mem == MAP_FAILED)
		return -errno;
	b->br = mem;
	b->bufs = malloc((size_t)BUFRING_COUNT * BUFRING_SIZE);
	if (!b->bufs)
		return -ENOMEM;
	struct io_uring_buf_reg reg = {
		.ring_addr = (unsigned long)mem, .ring_entries = BUFRING_COUNT, .bgid = group};
	int rc = io_uring_register_buf_ring(ring, &reg, 0);
	if (rc)
		return rc;
	io_uring_buf_ring_init(b->br);
	int mask = io_uring_buf_ring_mask(BUFRING_COUNT);
	for (int i = 0; i < BUFRING_COUNT; i++)
		io_uring_buf_ring_add(b->br, bufring_data(b, (unsigned)i), BUFRING_SIZE,
				      (unsigned short)i, mask, i);
	io_uring_buf_ring_advance(b->br, BUFRING_COUNT);
	return 0;
}

void bufring_recycle(struct bufring *b, unsigned bid)
{
	io_uring_buf_ring_add(b->br, bufring_data(b, bid), BUFRING_SIZE, (unsigned short)bid,
			      io_uring_buf_ring_mask(BUFRING_COUNT), 0);
	io_uring_buf_ring_advance(b->br, 1);
}

void bufring_free(struct bufring *b)
{
	if (b->br)
		munmap(b->br, BUFRING_COUNT * sizeof(struct io_uring_buf));
	free(b->bufs);
	b->br = NULL;
	b->bufs = NULL;
}
