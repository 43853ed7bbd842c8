/* carbons: the <received/> and <sent/> copies of XEP-0280.  The core keeps
 * messages as the cm serialised them, without from and to; a copy forwards
 * the original (XEP-0297) with those two put back on the inner <message>. */
#include "carbons.h"

#include <string.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "router.h"

#define FORWARD_NS "urn:xmpp:forward:0"

int carbons_iq(struct core *c, struct session *origin, const struct wire_stanza *s,
	       xmlNodePtr p)
{
	if (!p->ns || strcmp((const char *)p->ns->href, CARBONS_NS))
		return 0;
	int enable = !strcmp((const char *)p->name, "enable");
	if (!enable && strcmp((const char *)p->name, "disable"))
		return 0;
	if (s->type != STANZA_T_SET || !origin) {
		router_error(c, s, ROUTER_ERR_BAD_REQUEST);
		return 1;
	}
	if (enable)
		origin->flags |= SESSION_CARBONS;
	else
		origin->flags &= (uint8_t)~SESSION_CARBONS;
	router_iq_result(c, origin, s, NULL, 0);
	return 1;
}

static int has(struct wire_str x, const char *needle)
{
	return memmem(x.p, x.len, needle, strlen(needle)) != NULL;
}

int carbons_eligible(const struct wire_stanza *s)
{
	/* The checks look for the namespaces in the serialised stanza instead of
	 * parsing it again: a message naming them in text is merely not copied. */
	return s->kind == STANZA_MESSAGE && s->type == STANZA_T_CHAT && s->xml.len > 8 &&
	       !memcmp(s->xml.p, "<message", 8) && !has(s->xml, CARBONS_NS) &&
	       !(has(s->xml, "urn:xmpp:hints") && has(s->xml, "no-copy"));
}

/* <message type="chat"><WHICH xmlns=carbons><forwarded xmlns=forward>
 * <message xmlns="jabber:client" from=.. to=..REST</forwarded></WHICH></message>
 * where REST is the original after "<message". */
static int wrap(struct buf *b, const char *which, const struct wire_stanza *s)
{
	const char *rest = s->xml.p + 8;
	size_t rlen = s->xml.len - 8;
	const char *gt = memchr(rest, '>', rlen);
	int has_ns = gt && memmem(rest, (size_t)(gt - rest), "xmlns=", 6) != NULL;
	if (buf_append_str(b, "<message type=\"chat\"><") || buf_append_str(b, which) ||
	    buf_append_str(b, " xmlns=\"" CARBONS_NS "\"><forwarded xmlns=\"" FORWARD_NS
			      "\"><message") ||
	    (!has_ns && buf_append_str(b, " xmlns=\"jabber:client\"")) ||
	    buf_append_str(b, " from=\"") || buf_append_xml_escaped(b, s->from.p, s->from.len) ||
	    buf_append_str(b, "\" to=\"") || buf_append_xml_escaped(b, s->to.p, s->to.len) ||
	    buf_append_str(b, "\"") || buf_append(b, rest, rlen) ||
	    buf_append_str(b, "</forwarded></") || buf_append_str(b, which) ||
	    buf_append_str(b, "></message>"))
		return -1;
	return 0;
}

/* One copy of s to every session of u with carbons on and skip_flag off. */
static void copy_to(struct core *c, struct core_user *u, const char *which,
		    const struct wire_stanza *s, const struct session *skip, uint8_t skip_flag)
{
	char bare[CORE_JID_MAX], to[CORE_JID_MAX];
	struct buf x = {0};
	int wrapped = 0;
	for (struct session *t = u->sessions; t; t = t->user_next) {
		if (!(t->flags & SESSION_CARBONS) || t == skip || (t->flags & skip_flag))
			continue;
		if (!wrapped && (session_bare_jid(c, u, bare, sizeof bare) < 0 ||
				 wrap(&x, which, s))) {
			log_warn("carbons of a message to %s not sent", u->bare);
			break;
		}
		wrapped = 1;
		if (session_full_jid(c, t, to, sizeof to) < 0)
			continue;
		/* §8: the copy comes from the account's bare JID */
		struct wire_stanza w = {.kind = STANZA_MESSAGE, .type = STANZA_T_CHAT,
					.from = core_wstr(bare), .to = core_wstr(to),
					.xml = {buf_head(&x), (uint32_t)buf_avail(&x)}};
		router_deliver(c, t, &w);
	}
	buf_free(&x);
}

/* Whether any session of u but skip (and those flagged skip_flag) wants
 * copies: most users have one resource, and then nothing is looked at. */
static int wanted(const struct core_user *u, const struct session *skip, uint8_t skip_flag)
{
	for (const struct session *t = u->sessions; t; t = t->user_next)
		if ((t->flags & SESSION_CARBONS) && t != skip && !(t->flags & skip_flag))
			return 1;
	return 0;
}

void carbons_received(struct core *c, struct core_user *u, const struct wire_stanza *s)
{
	if (wanted(u, NULL, SESSION_GOT) && carbons_eligible(s))
		copy_to(c, u, "received", s, NULL, SESSION_GOT);
	for (struct session *t = u->sessions; t; t = t->user_next)
		t->flags &= (uint8_t)~SESSION_GOT;
}

void carbons_sent(struct core *c, struct session *origin, const struct wire_stanza *s)
{
	if (wanted(origin->user, origin, 0) && carbons_eligible(s))
		copy_to(c, origin->user, "sent", s, origin, 0);
}
