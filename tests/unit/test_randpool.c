/* Unit tests for lib/randpool.c: what it hands out is random-looking, never
 * handed out twice, and crosses pool refills whole. */
#include <string.h>

#include "lib/randpool.h"
#include "tests/unit/check.h"

/* Two draws of 16 bytes agreeing would take 2^128 tries: any repeat among
 * these many is a pool handing out the same bytes again. */
static void test_no_repeats(void)
{
	static unsigned char seen[400][16];
	int dup = 0;
	for (int i = 0; i < 400; i++) {
		CHECK(randpool_bytes(seen[i], 16) == 0);
		for (int j = 0; j < i; j++)
			dup |= !memcmp(seen[i], seen[j], 16);
	}
	CHECK(!dup);
}

/* Draws larger than the pool, and of odd sizes across a refill: every byte
 * value turns up, and none of the output is left zero in a block. */
static void test_sizes(void)
{
	static unsigned char big[4099];
	unsigned counts[256] = {0};
	CHECK(randpool_bytes(big, 1) == 0 && randpool_bytes(big, sizeof big) == 0);
	for (size_t i = 0; i < sizeof big; i++)
		counts[big[i]]++;
	int all = 1;
	for (int v = 0; v < 256; v++)
		all &= counts[v] > 0;
	CHECK(all);
	int zero_run = 0;
	for (size_t i = 0; i + 32 <= sizeof big; i += 32) {
		static const unsigned char zeros[32];
		zero_run |= !memcmp(big + i, zeros, 32);
	}
	CHECK(!zero_run);
}

static void test_hex(void)
{
	char a[65], b[65];
	CHECK(randpool_hex(a, 32) == 0 && randpool_hex(b, 32) == 0);
	CHECK(strlen(a) == 64 && strspn(a, "0123456789abcdef") == 64);
	CHECK(strcmp(a, b) != 0);
	char one[3];
	CHECK(randpool_hex(one, 1) == 0 && strlen(one) == 2);
	char none[1] = {'x'};
	CHECK(randpool_hex(none, 0) == 0 && none[0] == 0);
}

int main(void)
{
	test_no_repeats();
	test_sizes();
	test_hex();
	CHECK_DONE();
}
