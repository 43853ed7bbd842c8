/* promtext: exposition lines and process figures, read at scrape time. */
#include "promtext.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

/* jemalloc's control interface when it is linked (not in ASan builds). */
extern int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen)
    __attribute__((weak));

static int put(struct buf *out, int n, const char *s, size_t cap)
{
	return n > 0 && (size_t)n < cap && !buf_append(out, s, (size_t)n) ? 0 : -ENOMEM;
}

int prom_family(struct buf *out, const char *name, const char *type, const char *help)
{
	char s[512];
	return put(out,
	           snprintf(s, sizeof s, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type), s,
	           sizeof s);
}

int prom_sample(struct buf *out, const char *name, const char *labels, uint64_t v)
{
	char s[512];
	int n = *labels ? snprintf(s, sizeof s, "%s{%s} %" PRIu64 "\n", name, labels, v)
	                : snprintf(s, sizeof s, "%s %" PRIu64 "\n", name, v);
	return put(out, n, s, sizeof s);
}

int prom_sample_f(struct buf *out, const char *name, const char *labels, double v)
{
	char s[512];
	int n = *labels ? snprintf(s, sizeof s, "%s{%s} %.6f\n", name, labels, v)
	                : snprintf(s, sizeof s, "%s %.6f\n", name, v);
	return put(out, n, s, sizeof s);
}

int prom_one(struct buf *out, const char *name, const char *type, const char *help, uint64_t v)
{
	return prom_family(out, name, type, help) || prom_sample(out, name, "", v) ? -ENOMEM : 0;
}

uint64_t prom_jemalloc_stat(const char *name)
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

/* Resident pages from /proc/self/statm (procfs: never blocks on a disk). */
static uint64_t rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "re");
	unsigned long size, res = 0;
	if (f) {
		if (fscanf(f, "%lu %lu", &size, &res) != 2)
			res = 0;
		fclose(f);
	}
	return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}

int prom_process(struct buf *out)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	if (prom_family(out, "starling_process_cpu_seconds_total", "counter",
	                "CPU time of the whole process (user + system), seconds") ||
	    prom_sample_f(out, "starling_process_cpu_seconds_total", "",
	                  (double)t.tv_sec + (double)t.tv_nsec / 1e9))
		return -ENOMEM;
	return prom_one(out, "starling_process_resident_memory_bytes", "gauge",
	                "Resident set size from /proc/self/statm", rss_bytes()) ||
	               prom_one(out, "starling_heap_allocated_bytes", "gauge",
	                        "jemalloc stats.allocated (0 when jemalloc is not linked)",
	                        prom_jemalloc_stat("stats.allocated")) ||
	               prom_one(out, "starling_heap_resident_bytes", "gauge",
	                        "jemalloc stats.resident (0 when jemalloc is not linked)",
	                        prom_jemalloc_stat("stats.resident"))
	           ? -ENOMEM
	           : 0;
}
