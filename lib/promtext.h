/* promtext: writing Prometheus text exposition (format 0.0.4) and the
 * process figures every Starling process reports (memory, CPU). */
#ifndef STARLING_PROMTEXT_H
#define STARLING_PROMTEXT_H
#include <stdint.h>

#include "lib/buf.h"

/* "# HELP name help" and "# TYPE name type" (counter, gauge). 0 or -ENOMEM. */
int prom_family(struct buf *out, const char *name, const char *type, const char *help);
/* One sample: name, labels ("" or `k="v",...` without braces), value. */
int prom_sample(struct buf *out, const char *name, const char *labels, uint64_t v);
int prom_sample_f(struct buf *out, const char *name, const char *labels, double v);
/* The family and its one unlabelled sample. */
int prom_one(struct buf *out, const char *name, const char *type, const char *help, uint64_t v);
/* One of jemalloc's statistics ("stats.allocated", ...), fresh; 0 when the
 * process does not run on jemalloc. */
uint64_t prom_jemalloc_stat(const char *name);
/* Process CPU seconds, RSS, jemalloc's allocated and resident bytes. */
int prom_process(struct buf *out);

#endif
