/* relink: losing the link to the core without losing the clients. */
#include "relink.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth.h"
#include "c2s.h"
#include "sm.h"
#include "lib/linkaddr.h"
#include "lib/log.h"
#include "worker.h"

#define RELINK_BACKOFF_MIN_MS 250
#define RELINK_BACKOFF_MAX_MS 5000

void uplink_lost(struct worker *w, const char *why)
{
	struct uplink *l = &w->link;
	if (l->down)
		return;
	l->down = 1;
	l->up = 0;
	if (w->stop)
		return; /* stopping anyway: nothing to come back for */
	log_error("worker %u: link to the core lost (%s); keeping the clients, reconnecting",
		  w->id, why);
	/* Ends the receive and any send in flight; the socket is closed once
	 * their completions are in (uplink_retry). */
	if (l->fd >= 0)
		shutdown(l->fd, SHUT_RDWR);
	w->link_paused = 1; /* clients are paused as they next deliver input */
	l->backoff_ms = 0;
	l->retry_at_ms = w->now_ms;
	for (uint32_t i = 0; i < w->max_slots; i++) {
		struct conn *c = &w->slots[i];
		if (c->fd >= 0 && !(c->flags & CONN_DEAD)) {
			auth_link_lost(w, c);
			sm_unpark_lost(w, c);
		}
	}
}

/* What a buffer of old frames holds that a new core can use: stanzas of
 * sessions announced again, and stanzas given back.  Session opens and
 * closes, credential requests, acknowledgements and figures were for the
 * old core. */
static void keep_frames(struct worker *w, struct buf *old)
{
	const uint8_t *p = (const uint8_t *)buf_head(old);
	size_t left = buf_avail(old);
	struct wire_frame f;
	long n;
	while ((n = wire_parse(p, left, &f)) > 0) {
		struct conn *c = f.type == WIRE_STANZA ? conn_by_sid(w, f.sid) : NULL;
		int keep = f.type == WIRE_STANZA_RETURN || (c && (c->flags & CONN_BOUND));
		if (keep && buf_append(&w->link.out, p, (size_t)n))
			log_error("worker %u: a stanza for the core lost (out of memory)", w->id);
		p += n;
		left -= (size_t)n;
	}
}

/* A new link: HELLO, every session this worker holds, then what was kept. */
static unsigned announce(struct worker *w)
{
	struct uplink *l = &w->link;
	struct buf old = l->out;
	memset(&l->out, 0, sizeof l->out);
	buf_free(&l->sending); /* its stanza frames are in l->ack.kept */
	buf_free(&l->in);
	uplink_hello(w);
	unsigned n = 0;
	for (uint32_t i = 0; i < w->max_slots; i++) {
		struct conn *c = &w->slots[i];
		int held = (c->fd >= 0 && !(c->flags & CONN_DEAD)) || (c->flags & CONN_DETACHED);
		if (held && (c->flags & CONN_BOUND)) {
			c2s_announce(w, c);
			n++;
		}
	}
	/* The stanzas the old core never counted (they may have arrived: a
	 * few may come twice), then those never written. */
	keep_frames(w, &l->ack.kept);
	keep_frames(w, &old);
	buf_free(&old);
	linkack_reset(&l->ack);
	sm_link_new(w);
	l->ping_sent_ns = 0; /* that PING went with the old link */
	return n;
}

void uplink_retry(struct worker *w)
{
	struct uplink *l = &w->link;
	if (!l->down || w->stop || l->send_busy || l->recv_armed || w->now_ms < l->retry_at_ms)
		return;
	if (l->fd >= 0)
		close(l->fd);
	l->fd = linkaddr_connect(w->cfg->link_address);
	if (l->fd < 0) {
		l->backoff_ms = l->backoff_ms ? 2 * l->backoff_ms : RELINK_BACKOFF_MIN_MS;
		if (l->backoff_ms > RELINK_BACKOFF_MAX_MS)
			l->backoff_ms = RELINK_BACKOFF_MAX_MS;
		l->retry_at_ms = w->now_ms + l->backoff_ms;
		log_debug("worker %u: core not reachable (%s); next try in %u ms", w->id,
			  strerror(-l->fd), l->backoff_ms);
		return;
	}
	l->down = 0;
	unsigned n = announce(w);
	uplink_arm_recv(w);
	worker_resume_reading(w);
	log_info("worker %u: link to the core is back; %u session(s) announced", w->id, n);
}
