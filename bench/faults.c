/* faults: `chat --faults`, the bench's side of a fault run (issue 13,
 * bench/faults.sh).  The server is killed, restarted or cut off from its
 * link while pairs chat; afterwards every message must be accounted for:
 * delivered + offline + bounced = sent.  A message's number is its id
 * (m<k>, k counted per sender); its fates are kept in a byte per number on
 * the sender's slot, which the receiver of the pair (the next slot, always
 * on the same thread) reads too.  A session the fault takes down logs in
 * again with backoff, as a client would, and chats on (run.c starts the
 * attempts); a sender uses Stream Management (XEP-0198) to know which of
 * its messages the server has, and sends the others again. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "bench.h"

#define NS_SM "urn:xmpp:sm:3"
#define BACKOFF_FIRST_MS 250
#define BACKOFF_MAX_MS 4000
#define MS 1000000ull
#define MISSING_LOGGED 10 /* per thread: enough to find them in the server's log */

int faults_init(struct bench_run *r)
{
	for (unsigned i = 0; i < r->nconns; i++) {
		r->conns[i].fl = calloc(1, sizeof *r->conns[i].fl); /* freed in faults_free */
		if (!r->conns[i].fl)
			return -ENOMEM;
	}
	return 0;
}

void faults_free(struct bench_conn *c)
{
	if (!c->fl)
		return;
	free(c->fl->marks);
	free(c->fl);
	c->fl = NULL;
}

int faults_again(const struct bench_conn *c)
{
	return c->fl && c->fl->again;
}

static int is_sender(const struct bench_conn *c)
{
	return !(c->idx & 1);
}

static struct bench_conn *sender_of(struct bench_run *r, struct bench_conn *c)
{
	return &r->conns[(size_t)(c - r->conns) & ~(size_t)1];
}

static int send_s(struct bench_run *r, struct bench_conn *c, const char *s)
{
	int rc = xmpp_send(r, c, s, strlen(s));
	if (rc)
		xmpp_fail(r, c, FAIL_PROTOCOL, "send buffer");
	return rc;
}

/* Message k to the receiver's bare JID: its live session if there is one,
 * else its offline storage, so that the sender never waits for a session to
 * come back and the server decides every message's fate.  With Stream
 * Management each message asks for an acknowledgement. */
static int send_numbered(struct bench_run *r, struct bench_conn *a, const struct bench_conn *b,
			 uint64_t k, uint64_t intended_ns)
{
	char user[128], to[300];
	snprintf(user, sizeof user, r->opt.user_pat, r->opt.first + (int)b->idx);
	snprintf(to, sizeof to, "%s@%s", user, r->opt.domain);
	int rc = xmpp_send_chat(r, a, to, k, intended_ns);
	if (rc || !a->fl->sm_on)
		return rc;
	a->fl->sm_out++;
	return send_s(r, a, "<r xmlns='" NS_SM "'/>");
}

int faults_send_chat(struct bench_run *r, struct bench_conn *a, const struct bench_conn *b,
		     uint64_t intended_ns)
{
	struct fault_conn *f = a->fl;
	if (a->seq >= f->marks_cap) {
		size_t cap = f->marks_cap ? f->marks_cap * 2 : 256;
		uint8_t *m = realloc(f->marks, cap); /* freed in faults_free */
		if (!m)
			return -ENOMEM;
		memset(m + f->marks_cap, 0, cap - f->marks_cap);
		f->marks = m;
		f->marks_cap = cap;
	}
	int rc = send_numbered(r, a, b, a->seq, intended_ns);
	if (!rc)
		a->seq++; /* numbers 0 .. seq - 1 were sent */
	return rc;
}

int faults_arrived(struct bench_run *r, struct bench_conn *c, uint64_t k, enum fault_fate fate)
{
	struct bench_conn *s = sender_of(r, c);
	if (k >= s->seq || !s->fl->marks)
		return -1; /* never sent */
	uint8_t had = s->fl->marks[k];
	s->fl->marks[k] |= (uint8_t)(1u << fate);
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

void faults_stanza_out(struct bench_conn *c)
{
	struct fault_conn *f = c->fl;
	if (!f || !f->sm_on)
		return;
	if (f->nother < sizeof f->other / sizeof f->other[0])
		f->other[f->nother++] = f->sm_out;
	else
		f->sm_on = 0; /* cannot map acknowledgements to messages any more: resend all */
	f->sm_out++;
}

void faults_stanza_in(struct bench_conn *c)
{
	if (c->fl && c->fl->sm_enabled)
		c->fl->sm_in++;
}

void faults_online(struct bench_run *r, struct bench_conn *c)
{
	struct fault_conn *f = c->fl;
	int resend = f->sm_was_on; /* else nothing is known to be acknowledged */
	f->sm_on = f->sm_enabled = 0;
	if (is_sender(c)) {
		/* §3: counting starts with the next stanza, the presence */
		if (send_s(r, c, "<enable xmlns='" NS_SM "'/>"))
			return;
		f->sm_on = f->sm_was_on = 1; /* until <failed/> says otherwise */
		f->sm_out = 0;
		f->nother = 0;
		f->sm_base = f->acked;
	}
	if (c->want_presence) {
		faults_stanza_out(c);
		if (send_s(r, c, "<presence/>")) /* RFC 6121 §4.2 initial presence */
			return;
	}
	/* §4: what the last session left unacknowledged, in order, first */
	uint64_t now = bench_now();
	for (uint64_t k = f->acked; resend && is_sender(c) && k < c->seq; k++)
		if (send_numbered(r, c, c + 1, k, now))
			return;
}

/* <a h='H'/>: of the first H stanzas of the session, those that were not
 * messages are known; the rest are messages sm_base, sm_base + 1, ... */
static void acked(struct bench_conn *c, const char *el, size_t len)
{
	struct fault_conn *f = c->fl;
	char h[16], q, *end;
	if (!xmpp_attr(el, len, "h", h, sizeof h, &q))
		return;
	unsigned long v = strtoul(h, &end, 10);
	if (*end || v > f->sm_out)
		return;
	uint64_t msgs = v;
	for (unsigned i = 0; i < f->nother; i++)
		msgs -= f->other[i] < v;
	if (f->sm_base + msgs > f->acked)
		f->acked = f->sm_base + msgs;
}

int faults_nonza(struct bench_run *r, struct bench_conn *c, const char *el, size_t len)
{
	if (!memmem(el, len, NS_SM, strlen(NS_SM)) || !c->fl)
		return 0;
	if (!strncmp(el, "<a ", 3)) {
		if (c->fl->sm_on)
			acked(c, el, len);
	} else if (!strncmp(el, "<r ", 3) || !strncmp(el, "<r/", 3)) {
		char a[80];
		snprintf(a, sizeof a, "<a xmlns='" NS_SM "' h='%u'/>", c->fl->sm_in);
		send_s(r, c, a);
	} else if (!strncmp(el, "<failed", 7)) {
		c->fl->sm_on = c->fl->sm_was_on = 0; /* nothing is known to be acknowledged */
		log_warn("conn %u: the server refused Stream Management", c->idx);
	} else if (!strncmp(el, "<enabled", 8)) {
		c->fl->sm_enabled = 1;
		c->fl->sm_in = 0;
	} else {
		return 0;
	}
	return 1;
}

void faults_lost(struct bench_conn *c)
{
	struct fault_conn *f = c->fl;
	if (!f || (c->state != CS_ONLINE && !f->again))
		return; /* a first login that fails is the run's failure */
	f->sm_on = f->sm_enabled = 0;
	f->again = 1;
	f->backoff_ms = f->backoff_ms ? f->backoff_ms * 2 : BACKOFF_FIRST_MS;
	if (f->backoff_ms > BACKOFF_MAX_MS)
		f->backoff_ms = BACKOFF_MAX_MS;
	f->retry_at = bench_now() + f->backoff_ms * MS;
}

void faults_relogin(struct bench_conn *c, uint64_t at)
{
	c->fl->sm_on = c->fl->sm_enabled = 0;
	c->fl->again = 1;
	c->fl->backoff_ms = 0;
	c->fl->retry_at = at;
}

void faults_count_missing(struct bench_run *r)
{
	unsigned logged = 0;
	for (unsigned i = 0; i + 1 < r->nconns; i += 2) {
		const struct bench_conn *s = &r->conns[i];
		for (uint64_t k = 0; k < s->seq; k++) {
			if (s->fl->marks && s->fl->marks[k])
				continue;
			r->fl.missing++;
			if (logged++ < MISSING_LOGGED)
				log_warn("conn %u: message m%" PRIu64 " to conn %u never arrived", s->idx,
					 k, r->conns[i + 1].idx);
		}
	}
}
