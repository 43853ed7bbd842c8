/* stats: gauges computed on request, counters kept as events happen, and the
 * cm workers' own figures relayed with a link label. */
#include "stats.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "lib/stanza.h"
#include "link.h"

#define STATS_REPORT_MAX 4096

static int is_name_char(char ch) { return (ch >= 'a' && ch <= 'z') || ch == '_'; }

/* One "name value" line: a lowercase name, one space, decimal digits. */
static int good_line(const char *p, size_t n)
{
	size_t i = 0;
	while (i < n && is_name_char(p[i]))
		i++;
	if (!i || i + 1 >= n || p[i] != ' ')
		return 0;
	for (i++; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return 0;
	return 1;
}

int stats_cm_report(struct link *l, const struct wire_frame *f)
{
	struct wire_reader r;
	wire_reader_init(&r, f);
	struct wire_str text = wire_get_str(&r);
	if (r.err || text.len > STATS_REPORT_MAX)
		return 0; /* not worth a link: the figures are advisory */
	struct buf keep = {0};
	for (const char *p = text.p, *end = text.p + text.len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (good_line(p, n) && (buf_append(&keep, p, n) || buf_append(&keep, "\n", 1))) {
			buf_free(&keep);
			return -ENOMEM;
		}
		p += n + 1;
	}
	buf_free(&l->cm_report);
	l->cm_report = keep; /* ownership moves to the link; freed by link_close */
	return 0;
}

static int line(struct buf *out, const char *name, uint64_t v)
{
	char s[160];
	int n = snprintf(s, sizeof s, "%s %" PRIu64 "\n", name, v);
	return n > 0 && (size_t)n < sizeof s ? buf_append(out, s, (size_t)n) : -ENOMEM;
}


/* The cm's lines with the worker named: name{cm="starling-cm/PID/W"} value. */
static int relay(struct buf *out, const struct link *l)
{
	if (!buf_avail(&l->cm_report))
		return 0; /* nothing reported yet (and no storage to point into) */
	const char *p = buf_head(&l->cm_report), *end = p + buf_avail(&l->cm_report);
	while (p < end) {
		const char *sp = memchr(p, ' ', (size_t)(end - p));
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!sp || !nl || sp > nl)
			break;
		/* l->name holds no character a label would need escaped */
		if (buf_append(out, p, (size_t)(sp - p)) || buf_append_str(out, "{cm=\"") ||
		    buf_append_str(out, l->name) || buf_append_str(out, "\"}") ||
		    buf_append(out, sp, (size_t)(nl - sp + 1)))
			return -ENOMEM;
		p = nl + 1;
	}
	return 0;
}

void stats_cm_count(const struct core *c, struct stats_cm_counts *k)
{
	*k = (struct stats_cm_counts){0};
	for (const struct link *l = c->links; l; l = l->next) {
		if (!link_is_cm(l))
			continue; /* starlingctl's own link is no cm */
		k->links++;
		k->sessions += l->sids.n;
		for (uint32_t i = 0; i < l->sids.nb; i++)
			for (struct session *s = l->sids.b[i]; s; s = s->link_next)
				k->available += (s->flags & SESSION_AVAILABLE) != 0;
	}
}

int stats_render(struct core *c, struct buf *out)
{
	struct stats_cm_counts k;
	stats_cm_count(c, &k);
	const struct core_stats *st = &c->stats;
	int rc = line(out, "starling_core_cm_links", k.links) ||
		 line(out, "starling_core_users_online", c->users.n) ||
		 line(out, "starling_core_sessions", k.sessions) ||
		 line(out, "starling_core_sessions_available", k.available) ||
		 line(out, "starling_core_sessions_parked", c->parks.n) ||
		 line(out, "starling_core_stanzas_total{kind=\"message\"}", st->stanzas[STANZA_MESSAGE]) ||
		 line(out, "starling_core_stanzas_total{kind=\"presence\"}", st->stanzas[STANZA_PRESENCE]) ||
		 line(out, "starling_core_stanzas_total{kind=\"iq\"}", st->stanzas[STANZA_IQ]) ||
		 line(out, "starling_core_deliveries_total", st->deliveries) ||
		 line(out, "starling_core_offline_stored_total", st->offline_stored) ||
		 line(out, "starling_core_returned_total", st->returned) ||
		 line(out, "starling_core_sessions_opened_total", st->sessions_opened) ||
		 line(out, "starling_core_sessions_closed_total", st->sessions_closed) ||
		 line(out, "starling_core_credential_lookups_total", st->cred_lookups);
	for (struct link *l = c->links; !rc && l; l = l->next)
		rc = relay(out, l);
	return rc ? -ENOMEM : 0;
}
