/* hist: a log-linear latency histogram (the HDR histogram's bucket layout).
 *
 * Values are unsigned 64-bit (the bench records nanoseconds).  Values below
 * 2 * HIST_SUB are counted exactly; above that every power of two is split into
 * HIST_SUB equal sub-buckets, so a bucket is never wider than 1/HIST_SUB of
 * its lower bound.  A percentile is reported as the middle of its bucket
 * (clamped to the exact min and max), so it is within HIST_REL_ERR relative
 * error of the true order statistic.  Values above HIST_MAX_VALUE (about
 * 18 minutes in ns) are counted in the top bucket; min, max and sum stay exact.
 * Fixed size (about 18 KiB), no heap memory. */
#ifndef STARLING_BENCH_HIST_H
#define STARLING_BENCH_HIST_H
#include <stdint.h>

#define HIST_SUB_BITS 6
#define HIST_SUB (1u << HIST_SUB_BITS)			/* 64 sub-buckets per power of two */
#define HIST_MAX_BITS 40				/* values < 2^40 ns (~1100 s) resolved */
#define HIST_BUCKETS (2 * HIST_SUB + (HIST_MAX_BITS - HIST_SUB_BITS - 1) * HIST_SUB)
#define HIST_MAX_VALUE ((1ull << HIST_MAX_BITS) - 1)
#define HIST_REL_ERR (1.0 / (2 * HIST_SUB))		/* half a bucket: 1/128 */

struct hist {
	uint64_t count;
	uint64_t min, max; /* exact; min is UINT64_MAX while empty */
	uint64_t sum;	   /* exact (saturates), for the mean */
	uint64_t bucket[HIST_BUCKETS];
};

void hist_init(struct hist *h);
void hist_record(struct hist *h, uint64_t v);
/* Add src's counts into dst. */
void hist_merge(struct hist *dst, const struct hist *src);
/* The value at percentile p (0 < p <= 100): the smallest recorded value with
 * at least p% of the values at or below it, to within HIST_REL_ERR.  0 when
 * the histogram is empty. */
uint64_t hist_percentile(const struct hist *h, double p);
double hist_mean(const struct hist *h);
/* Bucket of a value and the bucket's inclusive bounds (exposed for tests). */
unsigned hist_bucket_of(uint64_t v);
uint64_t hist_bucket_low(unsigned idx);
uint64_t hist_bucket_high(unsigned idx);

#endif
