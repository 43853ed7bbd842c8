#include "memstat.h"

#include <malloc.h>
#include <openssl/crypto.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"

/* jemalloc's control interface, when jemalloc is linked (not in ASan builds). */
extern int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen)
	__attribute__((weak));

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

static size_t jemalloc_stat(const char *name)
{
	if (!mallctl)
		return 0;
	uint64_t epoch = 1;
	size_t v = 0, len = sizeof v, elen = sizeof epoch;
	/* Stats are a snapshot refreshed by bumping the epoch. */
	if (mallctl("epoch", &epoch, &elen, &epoch, elen) || mallctl(name, &v, &len, NULL, 0))
		return 0;
	return v;
}

void memstat_log(uint64_t conns)
{
	size_t allocated = jemalloc_stat("stats.allocated");
	size_t resident = jemalloc_stat("stats.resident");
	long long ossl = counting ? atomic_load(&openssl_bytes) : -1;
	log_info("memory: %llu connections; heap allocated %zu B, resident %zu B; OpenSSL %lld B%s",
		 (unsigned long long)conns, allocated, resident, ossl,
		 counting ? "" : " (not counted: set STARLING_OPENSSL_STATS=1)");
}
