/* test_hist: the bench's latency histogram reports percentiles within its
 * stated relative error on distributions whose true percentiles are known. */
#include <stdint.h>
#include <stdlib.h>

#include "../../bench/hist.c"
#include "check.h"

/* |got - want| <= want * HIST_REL_ERR (exact below 2 * HIST_SUB). */
static int close_enough(uint64_t got, uint64_t want)
{
	double d = got > want ? (double)(got - want) : (double)(want - got);
	return d <= (double)want * HIST_REL_ERR;
}

/* The true p-th percentile of 1..n: the ceil(p% * n)-th smallest value. */
static uint64_t uniform_true(uint64_t n, double p)
{
	double x = p / 100.0 * (double)n;
	uint64_t r = (uint64_t)x;
	if ((double)r < x)
		r++;
	return r < 1 ? 1 : r;
}

static void test_layout(void)
{
	/* buckets tile the range without gaps and respect the width bound */
	uint64_t next = 0;
	int ok = 1;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		uint64_t lo = hist_bucket_low(i), hi = hist_bucket_high(i);
		if (lo != next || hi < lo || hist_bucket_of(lo) != i || hist_bucket_of(hi) != i)
			ok = 0;
		if (lo >= 2 * HIST_SUB && (double)(hi - lo + 1) > (double)lo / HIST_SUB)
			ok = 0;
		next = hi + 1;
	}
	CHECK(ok);
	CHECK(next == HIST_MAX_VALUE + 1);
	CHECK(hist_bucket_of(UINT64_MAX) == HIST_BUCKETS - 1);
	CHECK(hist_bucket_of(127) == 127);
	CHECK(hist_bucket_of(128) == 128);
	CHECK(hist_bucket_low(129) == 130 && hist_bucket_high(129) == 131);
}

static void test_empty(void)
{
	struct hist h;
	hist_init(&h);
	CHECK(h.count == 0);
	CHECK(hist_percentile(&h, 50) == 0);
	CHECK(hist_mean(&h) == 0.0);
}

static void test_uniform(uint64_t n, uint64_t scale)
{
	static const double ps[] = { 1, 10, 50, 90, 99, 99.9, 100 };
	struct hist *h = malloc(sizeof(*h));
	if (!h) {
		CHECK(!"malloc");
		return;
	}
	hist_init(h);
	for (uint64_t v = 1; v <= n; v++)
		hist_record(h, v * scale);
	CHECK(h->count == n);
	CHECK(h->min == scale && h->max == n * scale);
	for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
		uint64_t want = uniform_true(n, ps[i]) * scale, got = hist_percentile(h, ps[i]);
		if (!close_enough(got, want))
			fprintf(stderr, "uniform n=%lu scale=%lu p%g: got %lu want %lu\n",
				(unsigned long)n, (unsigned long)scale, ps[i], (unsigned long)got,
				(unsigned long)want);
		CHECK(close_enough(got, want));
	}
	CHECK(hist_percentile(h, 100) == n * scale);
	free(h);
}

static void test_constant(void)
{
	struct hist h;
	hist_init(&h);
	for (int i = 0; i < 1000; i++)
		hist_record(&h, 123456789);
	/* clamping to the exact min/max makes a constant exact */
	CHECK(hist_percentile(&h, 50) == 123456789);
	CHECK(hist_percentile(&h, 99.9) == 123456789);
	CHECK(hist_mean(&h) == 123456789.0);
}

static void test_two_point(void)
{
	struct hist h;
	hist_init(&h);
	for (int i = 0; i < 900; i++)
		hist_record(&h, 1000000);	/* 1 ms */
	for (int i = 0; i < 100; i++)
		hist_record(&h, 50000000000ull); /* 50 s */
	CHECK(close_enough(hist_percentile(&h, 50), 1000000));
	CHECK(close_enough(hist_percentile(&h, 90), 1000000));
	CHECK(close_enough(hist_percentile(&h, 90.1), 50000000000ull));
	CHECK(close_enough(hist_percentile(&h, 99), 50000000000ull));
	CHECK(hist_percentile(&h, 100) == 50000000000ull);
}

static void test_merge(void)
{
	struct hist a, b;
	hist_init(&a);
	hist_init(&b);
	for (uint64_t v = 1; v <= 500; v++)
		hist_record(&a, v * 1000);
	for (uint64_t v = 501; v <= 1000; v++)
		hist_record(&b, v * 1000);
	hist_merge(&a, &b);
	CHECK(a.count == 1000);
	CHECK(a.min == 1000 && a.max == 1000000);
	CHECK(close_enough(hist_percentile(&a, 50), 500000));
	CHECK(close_enough(hist_percentile(&a, 99), 990000));
	CHECK(a.sum == 1000ull * 1000 * 1001 / 2);
}

static void test_overflow(void)
{
	struct hist h;
	hist_init(&h);
	hist_record(&h, UINT64_MAX);
	CHECK(h.bucket[HIST_BUCKETS - 1] == 1);
	CHECK(hist_percentile(&h, 50) == UINT64_MAX);
}

int main(void)
{
	test_layout();
	test_empty();
	test_uniform(100, 1);
	test_uniform(1000, 1);
	test_uniform(100000, 1);
	test_uniform(10000, 1000);	/* 1 us .. 10 ms in ns */
	test_uniform(10000, 9999991);	/* up to ~100 s */
	test_constant();
	test_two_point();
	test_merge();
	test_overflow();
	CHECK_DONE();
}
