/* lathist: a latency histogram of a few fixed buckets, cheap enough to
 * observe on the data path (a compare loop and three increments), rendered
 * as a Prometheus histogram in seconds. */
#ifndef STARLING_LATHIST_H
#define STARLING_LATHIST_H
#include <stdint.h>
#include <time.h>

#include "lib/buf.h"

#define LATHIST_BUCKETS 12
/* Upper bounds in nanoseconds: 5us .. 100ms, fine enough below a
 * millisecond to split a message's path into its hops; past the last is +Inf. */
static const uint64_t lathist_le_ns[LATHIST_BUCKETS] = {
	5000,	 10000,	  25000,   50000,   100000,   250000,
	500000, 1000000, 2500000, 5000000, 10000000, 100000000};

struct lathist {
	uint64_t bucket[LATHIST_BUCKETS + 1]; /* not cumulative; last = over all bounds */
	uint64_t count, sum_ns;
};

static inline uint64_t lathist_now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static inline void lathist_observe(struct lathist *h, uint64_t ns)
{
	unsigned i = 0;
	while (i < LATHIST_BUCKETS && ns > lathist_le_ns[i])
		i++;
	h->bucket[i]++;
	h->count++;
	h->sum_ns += ns;
}

/* Appends the family NAME (HELP and TYPE lines, buckets, sum, count).
 * Returns 0 or -ENOMEM. */
int lathist_render(struct buf *out, const char *name, const char *help, const struct lathist *h);
/* Appends one series of a family whose HELP and TYPE lines were written:
 * labels ("hop=\"core\"", or NULL) go before le.  0 or -ENOMEM. */
int lathist_render_series(struct buf *out, const char *name, const char *labels,
			  const struct lathist *h);
/* a += b, bucket by bucket (the figures of several threads). */
void lathist_add(struct lathist *a, const struct lathist *b);

#endif
