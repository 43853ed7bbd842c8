/* trace: the sampled stanzas' times, and their hop histograms. */
#include "trace.h"

#include "lib/log.h"
#include "worker.h"

const char *const trace_hop_names[HOP_COUNT] = {"cm_in", "link_to_core", "core", "link_to_cm",
						"cm_out"};

void trace_outbound(struct worker *w, uint32_t sid, uint64_t t_in)
{
	unsigned every = w->cfg->trace_sample;
	if (!every)
		return;
	if (w->trace.countdown && --w->trace.countdown)
		return;
	w->trace.countdown = every;
	uint64_t t[2] = {t_in, lathist_now_ns()};
	/* Best effort: a stanza without its trace is routed all the same. */
	if (wire_put_trace(&w->link.out, sid, t, 2))
		log_debug("worker %u: no room for a trace frame", w->id);
}

void trace_inbound(struct worker *w, const struct wire_frame *f, uint64_t t_read)
{
	struct cm_trace *tr = &w->trace;
	tr->rx_armed = 0;
	if (wire_get_trace(f, tr->rx) != WIRE_TRACE_MAX)
		return; /* only the core's complete ones: cm in, cm out, core in, core out */
	tr->rx[WIRE_TRACE_MAX] = t_read;
	tr->rx_sid = f->sid;
	tr->rx_armed = 1;
}

void trace_delivered(struct worker *w, uint32_t sid)
{
	struct cm_trace *tr = &w->trace;
	if (!tr->rx_armed)
		return;
	tr->rx_armed = 0;
	if (tr->rx_sid != sid)
		return;
	uint64_t t[HOP_COUNT + 1];
	for (unsigned i = 0; i <= WIRE_TRACE_MAX; i++)
		t[i] = tr->rx[i];
	t[HOP_COUNT] = lathist_now_ns();
	for (unsigned h = 0; h < HOP_COUNT; h++)
		if (t[h + 1] < t[h])
			return; /* clocks of different hosts: the split means nothing */
	for (unsigned h = 0; h < HOP_COUNT; h++)
		lathist_observe(&tr->hop[h], t[h + 1] - t[h]);
}
