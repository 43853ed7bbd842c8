/* metrics: the core's /metrics page (Prometheus text format 0.0.4), served
 * by lib/mhttp.c from the core's epoll loop.  The cm workers serve their own
 * figures on the cm's endpoint; here are the core's: sessions, routing,
 * links, store and process. */
#ifndef STARLING_CORE_METRICS_H
#define STARLING_CORE_METRICS_H
#include "lib/buf.h"

/* An mhttp_render_fn: ctx is the struct core. */
int core_metrics_render(void *ctx, struct buf *out);

#endif
