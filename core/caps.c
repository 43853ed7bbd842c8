/* caps: the feature sets of XEP-0115 entity capabilities, by ver, and the
 * disco#info queries that learn them (caps.h says why). */
#include "caps.h"

#include <errno.h>
#include <libxml/parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caps_ver.h"
#include "disco.h"
#include "lib/log.h"
#include "link.h"
#include "pep.h"
#include "router.h"

#define CAPS_BUCKETS 1024
#define CAPS_SUFFIX "+notify"

enum caps_state { CAPS_PENDING, CAPS_READY };

/* One feature set.  A shared one (in the table, its ver checked) lives until
 * evicted; a private one (an answer that did not hash to its ver) belongs to
 * the one session that gave it and goes with it. */
struct caps {
	struct caps *next;	  /* hash chain */
	struct session **waiting; /* sessions waiting for the answer; malloc'd */
	struct session *asked;	  /* the session whose answer is awaited */
	char *notify;		  /* "node\0node\0\0"; malloc'd, NULL for none */
	uint32_t refs;		  /* sessions whose caps this is */
	uint32_t nwaiting, capwaiting, query, hash;
	uint64_t asked_ms; /* when the query went out (core.now_ms) */
	uint8_t state, shared;
	char ver[]; /* NUL-terminated, then the query's node "node#ver" */
};

static uint32_t ver_hash(const char *v)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	while (*v)
		h = (h ^ (uint8_t)*v++) * 16777619u;
	return h;
}

static struct caps **bucket(struct caps_table *t, uint32_t h)
{
	return &t->b[h % CAPS_BUCKETS];
}

static struct caps *lookup(struct caps_table *t, const char *ver)
{
	uint32_t h = ver_hash(ver);
	for (struct caps *e = t->b ? *bucket(t, h) : NULL; e; e = e->next)
		if (e->hash == h && !strcmp(e->ver, ver))
			return e;
	return NULL;
}

static void entry_free(struct caps *e)
{
	free(e->waiting);
	free(e->notify);
	free(e);
}

static void unlink_entry(struct caps_table *t, struct caps *e)
{
	struct caps **pp = bucket(t, e->hash);
	while (*pp != e)
		pp = &(*pp)->next;
	*pp = e->next;
	e->shared = 0;
	t->n--;
}

/* Makes room by dropping a known set no session uses: 0 or -ENOSPC. */
static int evict(struct caps_table *t)
{
	for (uint32_t i = 0; i < CAPS_BUCKETS; i++)
		for (struct caps *e = t->b[i]; e; e = e->next)
			if (!e->refs && e->state == CAPS_READY) {
				unlink_entry(t, e);
				entry_free(e);
				return 0;
			}
	return -ENOSPC;
}

/* A new entry, malloc'd (freed by entry_free); shared ones go in the table. */
static struct caps *entry_new(struct caps_table *t, const char *ver, const char *node,
			      int shared)
{
	size_t vl = strlen(ver), nl = node ? strlen(node) : 0;
	if (shared && !t->b && !(t->b = calloc(CAPS_BUCKETS, sizeof *t->b)))
		return NULL;
	if (shared && t->n >= CAPS_MAX && evict(t))
		return NULL;
	struct caps *e = calloc(1, sizeof *e + vl + 1 + nl + 1 + vl + 1);
	if (!e)
		return NULL;
	e->hash = ver_hash(ver);
	memcpy(e->ver, ver, vl + 1);
	if (node)
		sprintf(e->ver + vl + 1, "%s#%s", node, ver);
	if (shared) {
		e->shared = 1;
		e->next = *bucket(t, e->hash);
		*bucket(t, e->hash) = e;
		t->n++;
	}
	return e;
}

static const char *query_node(const struct caps *e)
{
	return e->ver + strlen(e->ver) + 1;
}

/* XEP-0115 §6.3: the server asks the client, from the account's domain,
 * for the features behind node#ver.  Not one on a link that is going or a
 * parked one (-EAGAIN): it could not answer. */
static int ask(struct core *c, struct caps *e, struct session *s)
{
	char to[CORE_JID_MAX], id[24];
	struct buf x = {0};
	if (s->link->dead || s->link->parking)
		return -EAGAIN;
	int n = snprintf(id, sizeof id, "caps%u", ++c->caps.seq);
	if (session_full_jid(c, s, to, sizeof to) < 0)
		return -ENAMETOOLONG;
	const char *node = query_node(e);
	int rc = buf_append_str(&x, "<iq type=\"get\" id=\"") || buf_append_str(&x, id) ||
		 buf_append_str(&x, "\"><query xmlns=\"" DISCO_INFO_NS "\" node=\"") ||
		 buf_append_xml_escaped(&x, node, strlen(node)) ||
		 buf_append_str(&x, "\"/></iq>");
	if (!rc) {
		struct wire_stanza st = {.kind = STANZA_IQ, .type = STANZA_T_GET,
					 .id = {id, (uint32_t)n},
					 .from = core_wstr(strchr(s->user->bare, '@') + 1),
					 .to = core_wstr(to),
					 .xml = {buf_head(&x), (uint32_t)buf_avail(&x)}};
		rc = router_deliver(c, s, &st);
	}
	buf_free(&x);
	if (!rc) {
		e->asked = s;
		e->asked_ms = c->now_ms;
		e->query = c->caps.seq;
		c->stats.caps_queries++;
	}
	return rc ? -EIO : 0;
}

/* The session asked is gone or failed: ask the next one waiting that can
 * be asked (one parked stays waiting, unasked); with none, the next session
 * to name the ver is; with no session left, the entry is dropped. */
static void ask_next(struct core *c, struct caps *e)
{
	e->asked = NULL;
	for (uint32_t i = 0; i < e->nwaiting && !e->asked; i++)
		ask(c, e, e->waiting[i]);
	if (!e->asked && !e->refs) {
		if (e->shared)
			unlink_entry(&c->caps, e);
		entry_free(e);
	}
}

static void unwait(struct caps *e, struct session *s)
{
	for (uint32_t i = 0; i < e->nwaiting; i++)
		if (e->waiting[i] == s) {
			e->waiting[i] = e->waiting[--e->nwaiting];
			return;
		}
}

/* s no longer uses its entry. */
static void release(struct core *c, struct session *s)
{
	struct caps *e = s->caps;
	if (!e)
		return;
	s->caps = NULL;
	e->refs--;
	unwait(e, s);
	if (e->state == CAPS_PENDING && e->asked == s)
		ask_next(c, e);
	else if (!e->shared && !e->refs)
		entry_free(e);
}

static int wait_for(struct caps *e, struct session *s)
{
	if (e->nwaiting == e->capwaiting) {
		uint32_t cap = e->capwaiting ? 2 * e->capwaiting : 4;
		struct session **w = realloc(e->waiting, cap * sizeof *w);
		if (!w)
			return -ENOMEM;
		e->waiting = w;
		e->capwaiting = cap;
	}
	e->waiting[e->nwaiting++] = s;
	return 0;
}

/* The +notify nodes of a disco#info result, as "node\0node\0\0" (malloc'd),
 * or NULL when it names none (or on ENOMEM: no notifications). */
static char *notify_nodes(xmlNodePtr query)
{
	struct buf b = {0};
	unsigned n = 0;
	for (xmlNodePtr f = query->children; f; f = f->next) {
		if (f->type != XML_ELEMENT_NODE || !f->ns ||
		    strcmp((const char *)f->ns->href, DISCO_INFO_NS) ||
		    strcmp((const char *)f->name, "feature"))
			continue;
		xmlChar *var = xmlGetProp(f, (const xmlChar *)"var");
		size_t len = var ? strlen((const char *)var) : 0, sl = sizeof CAPS_SUFFIX - 1;
		if (len > sl && !strcmp((const char *)var + len - sl, CAPS_SUFFIX) &&
		    n < CAPS_NOTIFY_MAX && buf_avail(&b) + len < CAPS_NOTIFY_BYTES &&
		    !buf_append(&b, var, len - sl) && !buf_append(&b, "", 1))
			n++;
		xmlFree(var);
	}
	char *out = NULL;
	if (n && !buf_append(&b, "", 1) && (out = malloc(buf_avail(&b))))
		memcpy(out, buf_head(&b), buf_avail(&b));
	buf_free(&b);
	return out;
}

/* Reads a disco#info result: *notify its +notify nodes, *verified whether
 * its XEP-0115 §5.1 hash is ver.  0, or -EPROTO when it is no such result. */
static int read_answer(struct wire_str xml, const char *ver, char **notify, int *verified)
{
	xmlDocPtr d = xmlReadMemory(xml.p, (int)xml.len, NULL, NULL,
				    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	xmlNodePtr root = d ? xmlDocGetRootElement(d) : NULL, q = NULL;
	for (xmlNodePtr n = root ? root->children : NULL; n && !q; n = n->next)
		if (n->type == XML_ELEMENT_NODE && n->ns &&
		    !strcmp((const char *)n->ns->href, DISCO_INFO_NS) &&
		    !strcmp((const char *)n->name, "query"))
			q = n;
	char got[CAPS_VER_LEN + 1];
	if (q) {
		*verified = !caps_ver_sha1(q, got) && !strcmp(got, ver);
		*notify = notify_nodes(q);
	}
	xmlFreeDoc(d);
	return q ? 0 : -EPROTO;
}

/* Every session that waited for e learns its set: those available get the
 * last items they now want. */
static void resolved(struct core *c, struct caps *e)
{
	struct session **w = e->waiting;
	uint32_t n = e->nwaiting;
	e->state = CAPS_READY;
	e->asked = NULL;
	e->waiting = NULL;
	e->nwaiting = e->capwaiting = 0;
	for (uint32_t i = 0; i < n; i++)
		if (w[i]->flags & SESSION_AVAILABLE)
			pep_send_last(c, w[i]);
	free(w);
}

int caps_iq_answer(struct core *c, struct session *origin, const struct wire_stanza *st)
{
	struct caps *e = origin->caps;
	char id[24];
	if (!e || e->state != CAPS_PENDING || e->asked != origin)
		return 0;
	snprintf(id, sizeof id, "caps%u", e->query);
	if (!core_str_eq(id, st->id.p, st->id.len))
		return 0;
	char *notify = NULL;
	int verified = 0;
	int rc = st->type == STANZA_T_RESULT ? read_answer(st->xml, e->ver, &notify, &verified)
					     : -EPROTO;
	if (!rc && verified) {
		e->notify = notify;
		resolved(c, e);
		return 1;
	}
	/* §5.4: an answer that does not hash to ver is not cached; its sender
	 * still gets what it asked for (its ver kept, so that the same presence
	 * again asks nothing), the others wait for another client. */
	struct caps *p = rc ? NULL : entry_new(&c->caps, e->ver, NULL, 0);
	release(c, origin);
	if (!p) {
		free(notify);
		return 1;
	}
	log_debug("caps of %s/%s do not hash to their ver; kept for that session",
		  origin->user->bare, origin->resource);
	c->stats.caps_unverified++;
	p->notify = notify;
	p->state = CAPS_READY;
	p->refs = 1;
	origin->caps = p;
	if (origin->flags & SESSION_AVAILABLE)
		pep_send_last(c, origin);
	return 1;
}

int caps_presence(struct core *c, struct session *s, const char *hash, const char *node,
		  const char *ver)
{
	/* §5: SHA-1 is the hash every client uses; a legacy <c/> without one,
	 * another algorithm, or a ver that no SHA-1 can hash to is not learnt. */
	if (!hash || !node || !ver || strcmp(hash, "sha-1") || strlen(ver) != CAPS_VER_LEN ||
	    strlen(node) > CAPS_NODE_MAX) {
		release(c, s);
		return 0;
	}
	if (s->caps && !strcmp(s->caps->ver, ver))
		return 0;
	release(c, s);
	struct caps *e = lookup(&c->caps, ver);
	if (!e && !(e = entry_new(&c->caps, ver, node, 1)))
		return 0;
	if (e->state == CAPS_PENDING && wait_for(e, s)) {
		if (!e->refs && !e->asked) {
			unlink_entry(&c->caps, e);
			entry_free(e);
		}
		return 0;
	}
	s->caps = e;
	e->refs++;
	if (e->state == CAPS_READY)
		return e->notify != NULL;
	if (!e->asked)
		ask_next(c, e);
	else if (c->now_ms - e->asked_ms > CAPS_ANSWER_MS)
		ask(c, e, s); /* on failure the one asked before stays asked */
	return 0;
}

int caps_wants(const struct session *s, const char *node)
{
	const struct caps *e = s->caps;
	if (!e || e->state != CAPS_READY || !e->notify)
		return 0;
	for (const char *n = e->notify; *n; n += strlen(n) + 1)
		if (!strcmp(n, node))
			return 1;
	return 0;
}

int caps_interested(const struct session *s)
{
	return s->caps && s->caps->state == CAPS_READY && s->caps->notify;
}

void caps_session_end(struct core *c, struct session *s)
{
	release(c, s);
}

void caps_table_free(struct caps_table *t)
{
	for (uint32_t i = 0; t->b && i < CAPS_BUCKETS; i++)
		while (t->b[i]) {
			struct caps *e = t->b[i];
			t->b[i] = e->next;
			entry_free(e);
		}
	free(t->b);
	memset(t, 0, sizeof *t);
}
