/* hist: log-linear histogram; layout described in hist.h. */
#include "hist.h"

#include <string.h>

void hist_init(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

unsigned hist_bucket_of(uint64_t v)
{
	if (v > HIST_MAX_VALUE)
		v = HIST_MAX_VALUE;
	if (v < 2 * HIST_SUB)
		return (unsigned)v;
	/* v has msb m >= HIST_SUB_BITS + 1; keep its top HIST_SUB_BITS + 1 bits */
	unsigned shift = (unsigned)(63 - __builtin_clzll(v)) - HIST_SUB_BITS;
	return 2 * HIST_SUB + (shift - 1) * HIST_SUB + (unsigned)((v >> shift) - HIST_SUB);
}

uint64_t hist_bucket_low(unsigned idx)
{
	if (idx < 2 * HIST_SUB)
		return idx;
	unsigned shift = (idx - 2 * HIST_SUB) / HIST_SUB + 1;
	uint64_t top = HIST_SUB + (idx - 2 * HIST_SUB) % HIST_SUB;
	return top << shift;
}

uint64_t hist_bucket_high(unsigned idx)
{
	if (idx < 2 * HIST_SUB)
		return idx;
	unsigned shift = (idx - 2 * HIST_SUB) / HIST_SUB + 1;
	return hist_bucket_low(idx) + (1ull << shift) - 1;
}

void hist_record(struct hist *h, uint64_t v)
{
	h->bucket[hist_bucket_of(v)]++;
	h->count++;
	h->sum = (h->sum + v < h->sum) ? UINT64_MAX : h->sum + v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		dst->bucket[i] += src->bucket[i];
	dst->count += src->count;
	dst->sum = (dst->sum + src->sum < dst->sum) ? UINT64_MAX : dst->sum + src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t hist_percentile(const struct hist *h, double p)
{
	if (!h->count)
		return 0;
	if (p >= 100.0)
		return h->max;
	/* rank of the order statistic, 1-based: ceil(p% of count), at least 1 */
	double r = p / 100.0 * (double)h->count;
	uint64_t rank = (uint64_t)r;
	if ((double)rank < r)
		rank++;
	if (rank < 1)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen < rank)
			continue;
		uint64_t lo = hist_bucket_low(i), hi = hist_bucket_high(i);
		uint64_t v = lo + (hi - lo) / 2;
		if (v < h->min)
			v = h->min;
		if (v > h->max)
			v = h->max;
		return v;
	}
	return h->max;
}

double hist_mean(const struct hist *h)
{
	return h->count ? (double)h->sum / (double)h->count : 0.0;
}
