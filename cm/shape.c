#include "shape.h"

#include <stdint.h>
#include <stdlib.h>

#include "connlog.h"
#include "lib/log.h"
#include "worker.h"

void shape_init(struct worker *w, struct conn *c)
{
	c->rx_tokens = (int32_t)w->cfg->read_burst;
	c->rx_stamp = (uint32_t)w->now_ms;
}

/* Add the tokens earned since rx_stamp.  The stamp moves only by the time
 * the whole tokens paid for, so frequent small refills lose nothing. */
static void refill(struct worker *w, struct conn *c)
{
	uint32_t now = (uint32_t)w->now_ms, rate = w->cfg->read_rate;
	uint64_t add = (uint64_t)(uint32_t)(now - c->rx_stamp) * rate / 1000;
	int64_t t = (int64_t)c->rx_tokens + (int64_t)add;
	if (t >= (int64_t)w->cfg->read_burst) {
		c->rx_tokens = (int32_t)w->cfg->read_burst;
		c->rx_stamp = now;
	} else {
		c->rx_tokens = (int32_t)t;
		c->rx_stamp += (uint32_t)(add * 1000 / rate);
	}
}

void shape_linger(struct conn *c)
{
	if (c->rx_tokens > SHAPE_LINGER_BYTES)
		c->rx_tokens = SHAPE_LINGER_BYTES;
}

void shape_charge(struct worker *w, struct conn *c, size_t n)
{
	if (c->flags & CONN_DEAD)
		return;
	if (!(c->flags & CONN_WR_SHUT)) { /* a lingerer's allowance is not refilled */
		if (!w->cfg->read_rate)
			return;
		refill(w, c);
	}
	int64_t t = (int64_t)c->rx_tokens - (int64_t)n;
	c->rx_tokens = t < -INT32_MAX ? -INT32_MAX : (int32_t)t;
	/* Bytes the kernel had already given before the cancel still count. */
	if (c->rx_tokens >= 0 || (c->flags & CONN_SHAPED))
		return;
	if (w->n_shaped == w->cap_shaped) {
		uint32_t cap = w->cap_shaped ? 2 * w->cap_shaped : 64;
		uint32_t *p = realloc(w->shaped, cap * sizeof *p); /* owned by the worker */
		if (!p)
			return; /* keep reading: memory is short, not patience */
		w->shaped = p;
		w->cap_shaped = cap;
	}
	w->shaped[w->n_shaped++] = c->sid;
	c->flags |= CONN_SHAPED;
	w->n_read_shaped++;
	conn_log(LOG_LEVEL_DEBUG, c, "over read_rate, not reading for now");
	if (c->flags & CONN_RECV_ARMED)
		worker_cancel_recv(w, c);
}

void shape_tick(struct worker *w)
{
	uint32_t keep = 0;
	for (uint32_t i = 0; i < w->n_shaped; i++) {
		struct conn *c = conn_by_sid(w, w->shaped[i]);
		if (!c || !(c->flags & CONN_SHAPED) || (c->flags & CONN_DEAD))
			continue;
		if (c->flags & CONN_WR_SHUT) {
			/* Still sending after our close took its allowance: it is
			 * not listening, and the reset costs it nothing it wants. */
			conn_kill(w, c);
			continue;
		}
		refill(w, c);
		if (c->rx_tokens < 0) {
			w->shaped[keep++] = w->shaped[i];
			continue;
		}
		c->flags &= (uint32_t)~CONN_SHAPED;
		if (!(c->flags & (CONN_RECV_ARMED | CONN_PAUSED | CONN_INPUT_DONE)))
			worker_arm_recv(w, c);
	}
	w->n_shaped = keep;
}
