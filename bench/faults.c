/* faults: `chat --faults`, the bench's side of a fault run (issue 13,
 * bench/faults.sh).  The server is killed, restarted or cut off from its
 * link while pairs chat; afterwards every message must be accounted for:
 * delivered + offline + bounced = sent.  A message's number is its id
 * (m<k>, k counted per sender); its fates are kept in a byte per number on
 * the sender's slot, which the receiver of the pair (the next slot, always
 * on the same thread) reads too.  A session the fault takes down logs in
 * again with backoff, as a client would, and chats on (run.c starts the
 * attempts). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "bench.h"

#define BACKOFF_FIRST_MS 250
#define BACKOFF_MAX_MS 4000
#define MS 1000000ull
#define MISSING_LOGGED 10 /* per thread: enough to find them in the server's log */

static struct bench_conn *sender_of(struct bench_run *r, struct bench_conn *c)
{
	return &r->conns[(size_t)(c - r->conns) & ~(size_t)1];
}

/* The receiver's bare JID: its live session if there is one, else its
 * offline storage, so that the sender never waits for a session to come
 * back and the server decides every message's fate. */
int faults_send_chat(struct bench_run *r, struct bench_conn *a, const struct bench_conn *b,
		     uint64_t intended_ns)
{
	if (a->seq >= a->marks_cap) {
		size_t cap = a->marks_cap ? a->marks_cap * 2 : 256;
		uint8_t *m = realloc(a->marks, cap); /* freed in faults_free */
		if (!m)
			return -ENOMEM;
		memset(m + a->marks_cap, 0, cap - a->marks_cap);
		a->marks = m;
		a->marks_cap = cap;
	}
	char user[128], to[300];
	snprintf(user, sizeof user, r->opt.user_pat, r->opt.first + (int)b->idx);
	snprintf(to, sizeof to, "%s@%s", user, r->opt.domain);
	return xmpp_send_chat(r, a, to, intended_ns);
}

int faults_arrived(struct bench_run *r, struct bench_conn *c, uint64_t k, enum fault_fate fate)
{
	struct bench_conn *s = sender_of(r, c);
	if (k >= s->seq || !s->marks)
		return -1; /* never sent */
	uint8_t had = s->marks[k];
	s->marks[k] |= (uint8_t)(1u << fate);
	if (had) {
		r->fl.duplicates++;
		return 0;
	}
	if (fate == FATE_LIVE)
		r->fl.delivered++;
	else if (fate == FATE_OFFLINE)
		r->fl.offline++;
	else
		r->fl.bounced++;
	r->fl_progress_ns = bench_now();
	BENCH_COUNT(r, msgs_recv, 1);
	return 1;
}

void faults_lost(struct bench_run *r, struct bench_conn *c)
{
	if (!r->opt.faults || (c->state != CS_ONLINE && !c->again))
		return; /* a first login that fails is the run's failure */
	c->again = 1;
	c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : BACKOFF_FIRST_MS;
	if (c->backoff_ms > BACKOFF_MAX_MS)
		c->backoff_ms = BACKOFF_MAX_MS;
	c->retry_at = bench_now() + c->backoff_ms * MS;
}

void faults_relogin(struct bench_conn *c, uint64_t at)
{
	c->again = 1;
	c->backoff_ms = 0;
	c->retry_at = at;
}

void faults_count_missing(struct bench_run *r)
{
	unsigned logged = 0;
	for (unsigned i = 0; i + 1 < r->nconns; i += 2) {
		const struct bench_conn *s = &r->conns[i];
		for (uint64_t k = 0; k < s->seq; k++) {
			if (s->marks && s->marks[k])
				continue;
			r->fl.missing++;
			if (logged++ < MISSING_LOGGED)
				log_warn("conn %u: message m%" PRIu64 " to conn %u never arrived", s->idx,
					 k, r->conns[i + 1].idx);
		}
	}
}

void faults_free(struct bench_conn *c)
{
	free(c->marks);
	c->marks = NULL;
	c->marks_cap = 0;
}
