#include "memstat.h"

#include <inttypes.h>
#include <malloc.h>
#include <openssl/crypto.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/promtext.h"

static atomic_llong openssl_bytes;
static int counting;

static void *count_malloc(size_t n, const char *file, int line)
{
	(void)file, (void)line;
	void *p = malloc(n);
	if (p)
		atomic_fetch_add(&openssl_bytes, (long long)malloc_usable_size(p));
	return p;
}

static void *count_realloc(void *old, size_t n, const char *file, int line)
{
	(void)file, (void)line;
	size_t before = old ? malloc_usable_size(old) : 0;
	void *p = realloc(old, n);
	if (p || !n) {
		atomic_fetch_sub(&openssl_bytes, (long long)before);
		if (p)
			atomic_fetch_add(&openssl_bytes, (long long)malloc_usable_size(p));
	}
	return p;
}

static void count_free(void *p, const char *file, int line)
{
	(void)file, (void)line;
	if (p)
		atomic_fetch_sub(&openssl_bytes, (long long)malloc_usable_size(p));
	free(p);
}

void memstat_init(void)
{
	const char *e = getenv("STARLING_OPENSSL_STATS");
	if (!e || strcmp(e, "1"))
		return;
	if (CRYPTO_set_mem_functions(count_malloc, count_realloc, count_free))
		counting = 1;
	else
		log_warn("cannot count OpenSSL memory: OpenSSL already allocated");
}

void memstat_log(uint64_t conns)
{
	uint64_t allocated = prom_jemalloc_stat("stats.allocated");
	uint64_t resident = prom_jemalloc_stat("stats.resident");
	long long ossl = counting ? atomic_load(&openssl_bytes) : -1;
	log_info("memory: %llu connections; heap allocated %" PRIu64 " B, resident %" PRIu64 " B; OpenSSL %lld B%s",
		 (unsigned long long)conns, allocated, resident, ossl,
		 counting ? "" : " (not counted: set STARLING_OPENSSL_STATS=1)");
}
