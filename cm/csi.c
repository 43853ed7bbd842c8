/* csi: presence held for inactive clients (XEP-0352 §6 leaves what to hold
 * to the server; holding only presence updates, collapsed per sender, is
 * what Prosody and ejabberd do: messages, IQs, subscription requests and
 * errors are never delayed). */
#include "csi.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "connlog.h"
#include "lib/log.h"
#include "sm.h"
#include "worker.h"

/* One sender's latest held presence, rendered. */
struct csi_entry {
	char *from; /* owned */
	struct buf xml;
};

/* malloc'd on the first held presence and grown by doubling, freed when
 * flushed: an active or idle connection owns nothing here. */
struct csi_hold {
	uint32_t n, cap;
	struct csi_entry e[];
};

void csi_free(struct conn *c)
{
	struct csi_hold *h = c->csi;
	for (uint32_t i = 0; h && i < h->n; i++) {
		free(h->e[i].from);
		buf_free(&h->e[i].xml);
	}
	free(h);
	c->csi = NULL;
}

/* What was held goes out, oldest sender first; a presence is counted by
 * Stream Management but never returned. */
void csi_flush(struct worker *w, struct conn *c)
{
	struct csi_hold *h = c->csi;
	for (uint32_t i = 0; h && i < h->n; i++)
		sm_send(w, c, buf_head(&h->e[i].xml), buf_avail(&h->e[i].xml), NULL);
	csi_free(c);
}

int csi_nonza(struct worker *w, struct conn *c, const struct stanza *s)
{
	if (!s->ns || strcmp(s->ns, CSI_NS))
		return 0;
	if (!strcmp(s->name, "inactive"))
		c->flags |= CONN_INACTIVE;
	else if (!strcmp(s->name, "active")) {
		c->flags &= (uint32_t)~CONN_INACTIVE;
		csi_flush(w, c); /* §5: what was held goes out now */
	} else
		return 0;
	return 1;
}

/* An update of availability (RFC 6121 §4.2-§4.5): none or unavailable.
 * Subscriptions, probes and errors are not collapsible. */
static int holdable(const struct wire_stanza *s)
{
	return s->kind == STANZA_PRESENCE &&
	       (s->type == STANZA_T_NONE || s->type == STANZA_T_UNAVAILABLE);
}

static struct csi_entry *entry_for(struct conn *c, struct wire_str from)
{
	struct csi_hold *h = c->csi;
	for (uint32_t i = 0; h && i < h->n; i++)
		if (strlen(h->e[i].from) == from.len && !memcmp(h->e[i].from, from.p, from.len))
			return &h->e[i];
	if (h && h->n == CSI_HOLD_MAX)
		return NULL;
	if (!h || h->n == h->cap) {
		uint32_t cap = h ? h->cap * 2 : 4;
		struct csi_hold *nh = realloc(h, sizeof *h + cap * sizeof h->e[0]);
		if (!nh)
			return NULL;
		if (!h)
			nh->n = 0;
		nh->cap = cap;
		c->csi = h = nh;
	}
	struct csi_entry *e = &h->e[h->n];
	memset(e, 0, sizeof *e);
	if (!(e->from = wire_strdup(from)))
		return NULL;
	h->n++;
	return e;
}

int csi_filter(struct worker *w, struct conn *c, const struct wire_stanza *s)
{
	if (!(c->flags & CONN_INACTIVE) || !holdable(s)) {
		csi_flush(w, c);
		return 0;
	}
	struct csi_entry *e = entry_for(c, s->from);
	if (!e) {
		csi_flush(w, c); /* full (or out of memory): deliver rather than drop */
		return 0;
	}
	buf_free(&e->xml); /* the newer update supersedes the held one */
	if (wire_stanza_render(&e->xml, s)) {
		conn_log(LOG_LEVEL_WARN, c, "cannot hold a presence; delivering");
		csi_flush(w, c);
		return 0;
	}
	return 1;
}
