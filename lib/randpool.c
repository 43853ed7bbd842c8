/* randpool: the per-thread pool of random bytes.  See randpool.h. */
#include "randpool.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <string.h>

#define RANDPOOL_SIZE 512

static __thread uint8_t randpool[RANDPOOL_SIZE];
static __thread size_t randpool_left; /* unused bytes, at the pool's end */

int randpool_bytes(void *out, size_t n)
{
	uint8_t *o = out;
	while (n) {
		if (!randpool_left) {
			if (RAND_bytes(randpool, sizeof randpool) != 1)
				return -EIO;
			randpool_left = sizeof randpool;
		}
		size_t k = n < randpool_left ? n : randpool_left;
		uint8_t *p = randpool + sizeof randpool - randpool_left;
		memcpy(o, p, k);
		OPENSSL_cleanse(p, k); /* what was handed out is nobody else's */
		randpool_left -= k;
		o += k;
		n -= k;
	}
	return 0;
}

int randpool_hex(char *out, size_t bytes)
{
	static const char digits[] = "0123456789abcdef";
	uint8_t r[64];
	while (bytes) {
		size_t k = bytes < sizeof r ? bytes : sizeof r;
		if (randpool_bytes(r, k))
			return -EIO;
		for (size_t i = 0; i < k; i++) {
			*out++ = digits[r[i] >> 4];
			*out++ = digits[r[i] & 15];
		}
		bytes -= k;
	}
	*out = 0;
	OPENSSL_cleanse(r, sizeof r);
	return 0;
}
