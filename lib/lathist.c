/* lathist: the Prometheus rendering (cumulative buckets, le in seconds). */
#include "lathist.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

int lathist_render(struct buf *out, const char *name, const char *help, const struct lathist *h)
{
	char s[256];
	int n = snprintf(s, sizeof s, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	if (n <= 0 || (size_t)n >= sizeof s || buf_append(out, s, (size_t)n))
		return -ENOMEM;
	uint64_t cum = 0;
	for (unsigned i = 0; i <= LATHIST_BUCKETS; i++) {
		cum += h->bucket[i];
		if (i < LATHIST_BUCKETS)
			n = snprintf(s, sizeof s, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name,
			             (double)lathist_le_ns[i] / 1e9, cum);
		else
			n = snprintf(s, sizeof s, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name,
			             cum);
		if (n <= 0 || (size_t)n >= sizeof s || buf_append(out, s, (size_t)n))
			return -ENOMEM;
	}
	n = snprintf(s, sizeof s, "%s_sum %.9f\n%s_count %" PRIu64 "\n", name,
	             (double)h->sum_ns / 1e9, name, h->count);
	return n > 0 && (size_t)n < sizeof s && !buf_append(out, s, (size_t)n) ? 0 : -ENOMEM;
}
