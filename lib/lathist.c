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
	return lathist_render_series(out, name, NULL, h);
}

int lathist_render_series(struct buf *out, const char *name, const char *labels,
			  const struct lathist *h)
{
	char s[256];
	const char *sep = labels ? "," : "";
	labels = labels ? labels : "";
	uint64_t cum = 0;
	int n;
	for (unsigned i = 0; i <= LATHIST_BUCKETS; i++) {
		cum += h->bucket[i];
		if (i < LATHIST_BUCKETS)
			n = snprintf(s, sizeof s, "%s_bucket{%s%sle=\"%g\"} %" PRIu64 "\n", name,
				     labels, sep, (double)lathist_le_ns[i] / 1e9, cum);
		else
			n = snprintf(s, sizeof s, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", name,
				     labels, sep, cum);
		if (n <= 0 || (size_t)n >= sizeof s || buf_append(out, s, (size_t)n))
			return -ENOMEM;
	}
	const char *open = *labels ? "{" : "", *close = *labels ? "}" : "";
	n = snprintf(s, sizeof s, "%s_sum%s%s%s %.9f\n%s_count%s%s%s %" PRIu64 "\n", name, open,
		     labels, close, (double)h->sum_ns / 1e9, name, open, labels, close, h->count);
	return n > 0 && (size_t)n < sizeof s && !buf_append(out, s, (size_t)n) ? 0 : -ENOMEM;
}

void lathist_add(struct lathist *a, const struct lathist *b)
{
	for (unsigned i = 0; i <= LATHIST_BUCKETS; i++)
		a->bucket[i] += __atomic_load_n(&b->bucket[i], __ATOMIC_RELAXED);
	a->count += __atomic_load_n(&b->count, __ATOMIC_RELAXED);
	a->sum_ns += __atomic_load_n(&b->sum_ns, __ATOMIC_RELAXED);
}
