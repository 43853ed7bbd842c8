#include "session.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blocking.h"
#include "caps.h"
#include "core.h"
#include "fanout.h"
#include "link.h"
#include "park.h"

static uint32_t hash_bytes(const char *p, size_t n)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)p[i]) * 16777619u;
	return h;
}

static uint32_t hash_sid(uint32_t sid)
{
	sid ^= sid >> 16;
	sid *= 0x45d9f3bu;
	return sid ^ (sid >> 16);
}

/* Generic rehash for both tables: doubles nb, re-chains via next_of. */
static int users_grow(struct user_table *t)
{
	uint32_t nb = t->nb ? t->nb * 2 : 64;
	struct core_user **b = calloc(nb, sizeof *b);
	if (!b)
		return -ENOMEM;
	for (uint32_t i = 0; i < t->nb; i++)
		for (struct core_user *u = t->b[i], *nx; u; u = nx) {
			nx = u->next;
			u->next = b[u->hash & (nb - 1)];
			b[u->hash & (nb - 1)] = u;
		}
	free(t->b);
	t->b = b;
	t->nb = nb;
	return 0;
}

static int sids_grow(struct sid_table *t)
{
	uint32_t nb = t->nb ? t->nb * 2 : 16;
	struct session **b = calloc(nb, sizeof *b);
	if (!b)
		return -ENOMEM;
	for (uint32_t i = 0; i < t->nb; i++)
		for (struct session *s = t->b[i], *nx; s; s = nx) {
			nx = s->link_next;
			uint32_t k = hash_sid(s->sid) & (nb - 1);
			s->link_next = b[k];
			b[k] = s;
		}
	free(t->b);
	t->b = b;
	t->nb = nb;
	return 0;
}

static void sid_insert(struct link *l, struct session *s)
{
	uint32_t k = hash_sid(s->sid) & (l->sids.nb - 1);
	s->link_next = l->sids.b[k];
	l->sids.b[k] = s;
	l->sids.n++;
}

static void sid_remove(struct link *l, struct session *s)
{
	struct session **pp = &l->sids.b[hash_sid(s->sid) & (l->sids.nb - 1)];
	while (*pp != s)
		pp = &(*pp)->link_next;
	*pp = s->link_next;
	l->sids.n--;
}

struct core_user *session_user(struct core *c, const char *bare, size_t len)
{
	if (!c->users.nb)
		return NULL;
	uint32_t h = hash_bytes(bare, len);
	for (struct core_user *u = c->users.b[h & (c->users.nb - 1)]; u; u = u->next)
		if (u->hash == h && core_str_eq(u->bare, bare, len))
			return u;
	return NULL;
}

struct session *session_by_sid(struct link *l, uint32_t sid)
{
	if (!l->sids.nb)
		return NULL;
	for (struct session *s = l->sids.b[hash_sid(sid) & (l->sids.nb - 1)]; s; s = s->link_next)
		if (s->sid == sid)
			return s;
	return NULL;
}

struct session *session_by_resource(struct core_user *u, const char *res, size_t len)
{
	for (struct session *s = u->sessions; s; s = s->user_next)
		if (core_str_eq(s->resource, res, len))
			return s;
	return NULL;
}

static struct core_user *user_get_or_add(struct core *c, const char *bare)
{
	size_t len = strlen(bare);
	struct core_user *u = session_user(c, bare, len);
	if (u)
		return u;
	if (c->users.n >= c->users.nb / 2 * 3 && users_grow(&c->users))
		return NULL;
	u = calloc(1, sizeof *u + len + 1); /* freed in session_free with the last session */
	if (!u)
		return NULL;
	memcpy(u->bare, bare, len + 1);
	u->hash = hash_bytes(bare, len);
	uint32_t k = u->hash & (c->users.nb - 1);
	u->next = c->users.b[k];
	c->users.b[k] = u;
	c->users.n++;
	return u;
}

static void user_remove(struct core *c, struct core_user *u)
{
	struct core_user **pp = &c->users.b[u->hash & (c->users.nb - 1)];
	while (*pp != u)
		pp = &(*pp)->next;
	*pp = u->next;
	c->users.n--;
	blocking_free(u);
	fanout_free(u);
	free(u);
}

int session_open(struct core *c, struct link *l, uint32_t sid, const char *bare,
		 const char *resource, const char *addr, struct session **out)
{
	size_t rlen = strlen(resource), alen = strlen(addr);
	if (rlen > 1023 || strlen(bare) > 2047 || alen > SESSION_ADDR_MAX)
		return -ENAMETOOLONG;
	if (session_by_sid(l, sid))
		return -EEXIST;
	if (l->sids.n >= l->sids.nb / 2 * 3 && sids_grow(&l->sids))
		return -ENOMEM;
	struct core_user *u = user_get_or_add(c, bare);
	if (!u)
		return -ENOMEM;
	/* freed by session_free */
	struct session *s = calloc(1, sizeof *s + rlen + 1 + alen + 1);
	if (!s) {
		if (!u->sessions)
			user_remove(c, u);
		return -ENOMEM;
	}
	memcpy(s->resource, resource, rlen + 1);
	memcpy(s->resource + rlen + 1, addr, alen + 1);
	s->since = (uint32_t)time(NULL);
	s->sid = sid;
	s->link = l;
	s->user = u;
	s->user_next = u->sessions;
	u->sessions = s;
	sid_insert(l, s);
	c->stats.sessions_opened++;
	*out = s;
	return 0;
}

int session_move(struct link *to, uint32_t sid, struct session *s)
{
	if (session_by_sid(to, sid))
		return -EEXIST;
	if (to->sids.n >= to->sids.nb / 2 * 3 && sids_grow(&to->sids))
		return -ENOMEM;
	sid_remove(s->link, s);
	s->link = to;
	s->sid = sid;
	sid_insert(to, s);
	return 0;
}

void session_free(struct core *c, struct session *s)
{
	c->stats.sessions_closed++;
	struct link *l = s->link;
	if (l->parking)
		park_session_gone(c, s);
	sid_remove(l, s);
	struct core_user *u = s->user;
	struct session **pp;
	for (pp = &u->sessions; *pp != s; pp = &(*pp)->user_next)
		;
	*pp = s->user_next;
	caps_session_end(c, s); /* while s->user is still there */
	if (!u->sessions)
		user_remove(c, u);
	free(s->presence);
	while (s->directed) {
		struct directed *d = s->directed;
		s->directed = d->next;
		free(d);
	}
	free(s);
}

int session_bare_jid(const struct core *c, const struct core_user *u, char *out, size_t cap)
{
	(void)c;
	int n = snprintf(out, cap, "%s", u->bare);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : n;
}

int session_full_jid(const struct core *c, const struct session *s, char *out, size_t cap)
{
	(void)c;
	/* Once per routed stanza: no format string to interpret. */
	size_t b = strlen(s->user->bare), r = strlen(s->resource);
	if (b + 1 + r >= cap)
		return -ENAMETOOLONG;
	memcpy(out, s->user->bare, b);
	out[b] = '/';
	memcpy(out + b + 1, s->resource, r + 1);
	return (int)(b + 1 + r);
}

void session_sid_table_free(struct sid_table *t)
{
	free(t->b);
	memset(t, 0, sizeof *t);
}

void session_user_table_free(struct user_table *t)
{
	free(t->b);
	memset(t, 0, sizeof *t);
}
