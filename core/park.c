/* park: resumable sessions between two cms (see park.h). */
#include "park.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "last.h"
#include "lib/log.h"
#include "lib/wire.h"
#include "link.h"
#include "router.h"

#define TOKEN_MIN 16
#define TOKEN_MAX 64

struct park {
	struct session *s;
	uint32_t sid; /* its sid on the parking link, its index in the table */
	uint64_t deadline_ms;
	uint32_t h_in, acked, n; /* as the cm counted (wire_park) */
	struct buf q;		 /* n STANZA_RETURN frames, oldest first */
	uint8_t token_len;
	char token[TOKEN_MAX];
};

static struct park *park_of(const struct core *c, const struct session *s)
{
	return s->link == c->parked && s->sid < c->parks.cap ? c->parks.v[s->sid] : NULL;
}

/* The parking link: a link with no peer, so that the router, presence and
 * rosters treat a parked session as any other. */
static struct link *parking(struct core *c)
{
	if (!c->parked && (c->parked = calloc(1, sizeof *c->parked))) { /* freed by park_free */
		c->parked->fd = -1;
		c->parked->parking = 1;
		c->parked->hello_rx = 1;
		strcpy(c->parked->peer, "parked");
		strcpy(c->parked->name, "parked");
	}
	return c->parked;
}

/* A free sid on the parking link, the table grown as needed; -1 on ENOMEM. */
static int64_t free_sid(struct core *c)
{
	struct park_table *t = &c->parks;
	for (uint32_t i = t->low; i < t->cap; i++)
		if (!t->v[i])
			return t->low = i;
	uint32_t cap = t->cap ? t->cap * 2 : 16;
	struct park **v = realloc(t->v, cap * sizeof *v);
	if (!v)
		return -1;
	memset(v + t->cap, 0, (cap - t->cap) * sizeof *v);
	int64_t sid = t->low = t->cap;
	t->v = v;
	t->cap = cap;
	return sid;
}

/* Unlinks p from the table and frees it; with route, its queue goes to be
 * routed at the next park_tick. */
static void drop(struct core *c, struct park *p, int route)
{
	if (route && buf_avail(&p->q) &&
	    buf_append(&c->parks.gone, buf_head(&p->q), buf_avail(&p->q)))
		log_warn("parked session: %u unacknowledged stanza(s) lost (out of memory)", p->n);
	if (route)
		c->parks.next_ms = 0;
	c->parks.v[p->sid] = NULL;
	c->parks.n--;
	if (p->sid < c->parks.low)
		c->parks.low = p->sid;
	buf_free(&p->q);
	free(p);
}

/* Queued stanzas whose session is gone: routed as a cm's returned ones
 * (a message to another resource or offline, a request answered). */
static void route_gone(struct core *c)
{
	struct buf q = c->parks.gone;
	memset(&c->parks.gone, 0, sizeof q);
	const uint8_t *p = (const uint8_t *)buf_head(&q);
	size_t left = buf_avail(&q);
	struct wire_frame f;
	struct wire_stanza st;
	long len;
	for (; left && (len = wire_parse(p, left, &f)) > 0; p += len, left -= (size_t)len)
		if (!wire_get_stanza(&f, &st) && wire_stanza_returnable(&st)) {
			c->stats.returned++;
			router_returned(c, &st);
		}
	buf_free(&q);
}

void park_on_park(struct core *c, struct link *l, const struct wire_frame *f)
{
	struct wire_park wp;
	if (wire_get_park(f, &wp) || wp.token.len < TOKEN_MIN || wp.token.len > TOKEN_MAX) {
		link_fail(l, "malformed SESSION_PARK");
		return;
	}
	struct session *s = session_by_sid(l, f->sid);
	struct park *p = s ? calloc(1, sizeof *p) : NULL; /* freed by drop */
	int64_t sid = p && parking(c) ? free_sid(c) : -1;
	if (sid < 0 || buf_append(&p->q, wp.q.p, wp.q.len) ||
	    session_move(c->parked, (uint32_t)sid, s)) {
		/* Ended meanwhile (a close crossed the park) or no room: what the
		 * client never acknowledged is routed as the cm would have. */
		if (p)
			buf_free(&p->q);
		free(p);
		if (s)
			link_session_end(c, s, "could not be parked");
		if (buf_append(&c->parks.gone, wp.q.p, wp.q.len))
			log_warn("link %s: a parked session's stanzas lost (out of memory)", l->peer);
		c->parks.next_ms = 0;
		return;
	}
	p->s = s;
	p->sid = (uint32_t)sid;
	p->h_in = wp.h_in;
	p->acked = wp.acked;
	p->n = wp.n;
	p->token_len = (uint8_t)wp.token.len;
	memcpy(p->token, wp.token.p, wp.token.len);
	uint32_t secs = wp.secs < PARK_MAX_SECS ? wp.secs : PARK_MAX_SECS;
	p->deadline_ms = c->now_ms + (uint64_t)secs * 1000;
	c->parks.v[sid] = p;
	c->parks.n++;
	if (p->deadline_ms < c->parks.next_ms)
		c->parks.next_ms = p->deadline_ms;
	char jid[CORE_JID_MAX];
	if (session_full_jid(c, s, jid, sizeof jid) > 0)
		log_info("link %s: %s parked for %u s with %u unacknowledged stanza(s)", l->peer,
			 jid, secs, p->n);
}

/* Compares all of both tokens whatever they hold: the time taken says
 * nothing of how much of a guess was right. */
static int token_eq(const struct park *p, struct wire_str t)
{
	unsigned char d = p->token_len != t.len;
	for (uint32_t i = 0; i < t.len && i < TOKEN_MAX; i++)
		d |= (unsigned char)(p->token[i % p->token_len] ^ t.p[i]);
	return !d;
}

/* SESSION_UNPARKED: the session p, or "unknown" when NULL.  Counted by the
 * cm like a stanza frame, so kept until it is (park_unparked_lost). */
static int answer(struct link *l, uint32_t sid, const struct wire_park *p)
{
	size_t before = buf_avail(&l->out);
	int rc = wire_put_unparked(&l->out, sid, p ? 0 : 1, p);
	if (!rc)
		link_keep(l, before);
	return rc;
}

void park_on_unpark(struct core *c, struct link *l, const struct wire_frame *f)
{
	struct wire_reader r;
	wire_reader_init(&r, f);
	struct wire_str bare = wire_get_str(&r), token = wire_get_str(&r);
	if (r.err || r.p != r.end) {
		link_fail(l, "malformed SESSION_UNPARK");
		return;
	}
	/* Only the account that parked it may take it: the cm authenticated
	 * the asker as bare. */
	struct core_user *u = session_user(c, bare.p, bare.len);
	struct park *p = NULL;
	for (struct session *s = u ? u->sessions : NULL; s && !p; s = s->user_next)
		if ((p = park_of(c, s)) && !token_eq(p, token))
			p = NULL;
	char jid[CORE_JID_MAX];
	int jl = p ? session_full_jid(c, p->s, jid, sizeof jid) : -1;
	struct wire_park wp = {.jid = {jid, (uint32_t)(jl > 0 ? jl : 0)}};
	if (!p || jl <= 0 || buf_avail(&p->q) > WIRE_PARK_MAX_Q || session_by_sid(l, f->sid)) {
		if (answer(l, f->sid, NULL))
			link_fail(l, "out of memory");
		return;
	}
	struct session *s = p->s;
	if (session_move(l, f->sid, s)) {
		if (answer(l, f->sid, NULL))
			link_fail(l, "out of memory");
		return;
	}
	wp.h_in = p->h_in;
	wp.acked = p->acked;
	wp.n = p->n;
	wp.q = (struct wire_str){buf_head(&p->q), (uint32_t)buf_avail(&p->q)};
	int rc = answer(l, f->sid, &wp);
	if (rc) /* the link ends, and the session with it: its queue is routed */
		link_fail(l, "out of memory");
	else
		log_info("link %s: %s taken up with %u stanza(s) to send again", l->peer, jid,
			 p->n);
	drop(c, p, rc != 0);
}

void park_unparked_lost(struct core *c, const struct wire_frame *f)
{
	uint8_t status;
	struct wire_park p;
	if (wire_get_unparked(f, &status, &p) || status)
		return;
	if (buf_append(&c->parks.gone, p.q.p, p.q.len))
		log_warn("%u stanza(s) of a session taken up lost (out of memory)", p.n);
	c->parks.next_ms = 0;
}

int park_queue(struct core *c, struct session *s, const struct wire_stanza *st)
{
	struct park *p = park_of(c, s);
	if (!p)
		return -ENOENT;
	int rc = wire_put_stanza_return(&p->q, st);
	if (rc)
		return rc;
	c->stats.deliveries++;
	if (++p->n > PARK_MAX_STANZAS || buf_avail(&p->q) > WIRE_PARK_MAX_Q) {
		p->deadline_ms = 0; /* as a cm ends a session its client lets pile up */
		c->parks.next_ms = 0;
	}
	return 0;
}

void park_session_gone(struct core *c, struct session *s)
{
	struct park *p = park_of(c, s);
	if (p)
		drop(c, p, 1);
}

void park_tick(struct core *c)
{
	struct park_table *t = &c->parks;
	if (c->parked) {
		/* What others wrote to parked sessions (closes) no cm reads, and a
		 * failure to write it is no reason to stop queueing for them. */
		buf_free(&c->parked->out);
		c->parked->dead = 0;
	}
	if (t->next_ms > c->now_ms)
		return;
	uint64_t next = UINT64_MAX;
	t->next_ms = UINT64_MAX; /* lowered by a session ended on the way */
	for (uint32_t i = 0; i < t->cap && t->n; i++) {
		struct park *p = t->v[i];
		if (p && p->deadline_ms <= c->now_ms)
			/* The queue is routed below, after the session has gone:
			 * unavailable first, as when a cm ends a session. */
			link_session_end(c, p->s, "not taken up in time");
		else if (p && p->deadline_ms < next)
			next = p->deadline_ms;
	}
	if (next < t->next_ms)
		t->next_ms = next;
	if (buf_avail(&t->gone))
		route_gone(c);
}

int park_wait_ms(const struct core *c)
{
	const struct park_table *t = &c->parks;
	if (!t->n && !buf_avail(&t->gone))
		return -1;
	if (t->next_ms <= c->now_ms || buf_avail(&t->gone))
		return 0;
	uint64_t ms = t->next_ms - c->now_ms;
	return ms < 60000 ? (int)ms : 60000;
}

void park_free(struct core *c)
{
	for (uint32_t i = 0; i < c->parks.cap; i++)
		if (c->parks.v[i]) {
			struct session *s = c->parks.v[i]->s;
			last_session_end(c, s);
			session_free(c, s);
		}
	route_gone(c);
	free(c->parks.v);
	memset(&c->parks, 0, sizeof c->parks);
	if (c->parked) {
		buf_free(&c->parked->out);
		session_sid_table_free(&c->parked->sids);
		free(c->parked);
		c->parked = NULL;
	}
}
