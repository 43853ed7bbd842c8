/* last: XEP-0012 Last Activity.  The server answers for itself (§5: its
 * uptime) and for its accounts (§3: how long ago the account logged out,
 * with the status it left); a query to a full JID goes to that client. */
#include "last.h"

#include <errno.h>
#include <libxml/parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"
#include "lib/stanza.h"
#include "router.h"

static int64_t last_uptime(const struct core *c)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec - c->started;
}

/* <query xmlns="jabber:iq:last" seconds="N">status</query> */
static void last_answer(const struct iq_req *r, int64_t seconds, const char *status)
{
	struct buf x = {0};
	char num[24];
	snprintf(num, sizeof num, "%lld", (long long)(seconds < 0 ? 0 : seconds));
	int rc = buf_append_str(&x, "<query xmlns=\"" LAST_NS "\" seconds=\"") ||
		 buf_append_str(&x, num) || buf_append_str(&x, "\"");
	if (!rc && status && *status)
		rc = buf_append_str(&x, ">") || buf_append_xml_escaped(&x, status, strlen(status)) ||
		     buf_append_str(&x, "</query>");
	else if (!rc)
		rc = buf_append_str(&x, "/>");
	if (rc)
		router_error(r->c, r->s, ROUTER_ERR_INTERNAL);
	else
		iq_result(r, buf_head(&x), buf_avail(&x));
	buf_free(&x);
}

static int last_is_available(const struct core_user *u)
{
	for (const struct session *s = u ? u->sessions : NULL; s; s = s->user_next)
		if (s->flags & SESSION_AVAILABLE)
			return 1;
	return 0;
}

static void last_of_account(const struct iq_req *r)
{
	char local[CORE_JID_MAX];
	if (iq_account(r, local, sizeof local)) {
		router_error(r->c, r->s, ROUTER_ERR_SERVICE_UNAVAILABLE);
		return;
	}
	/* §3: only an entity allowed to see the account's presence may ask. */
	int ok = r->target != IQ_TO_OTHER || iq_may_see(r->c, local, r->origin);
	if (ok <= 0) {
		router_error(r->c, r->s, ok ? ROUTER_ERR_INTERNAL : ROUTER_ERR_FORBIDDEN);
		return;
	}
	/* §3: online means 0.  We count available resources only (the XEP also
	 * allows connected ones), so that a client that never sent presence is
	 * not revealed; the requester itself is online when it asks for its own. */
	if (r->target != IQ_TO_OTHER ||
	    last_is_available(session_user(r->c, local, strlen(local)))) {
		last_answer(r, 0, NULL);
		return;
	}
	int64_t stamp;
	char *status = NULL;
	int rc = store_last_get(r->c->store, local, &stamp, &status);
	if (!rc)
		last_answer(r, (int64_t)time(NULL) - stamp, status);
	else
		/* Never logged out since we record it: the condition a missing
		 * account gets (RFC 6121 §8.5.1), as Prosody and ejabberd answer. */
		router_error(r->c, r->s, rc == -ENOENT ? ROUTER_ERR_SERVICE_UNAVAILABLE
						       : ROUTER_ERR_INTERNAL);
	free(status);
}

int last_iq(const struct iq_req *r)
{
	if (!iq_is(r->payload, LAST_NS, "query"))
		return 0;
	if (r->s->type != STANZA_T_GET)
		router_error(r->c, r->s, ROUTER_ERR_BAD_REQUEST); /* only get is defined */
	else if (r->target == IQ_TO_SERVER && r->s->to.len)
		last_answer(r, last_uptime(r->c), NULL); /* §5: no character data */
	else
		last_of_account(r);
	return 1;
}

/* The text of the <status/> the session sent last, or NULL.  Parsed only
 * here, once per logout, and only when the bytes mention one. */
static char *last_status(const struct session *s)
{
	if (!s->presence || !memmem(s->presence, s->presence_len, "<status", 7))
		return NULL;
	xmlDocPtr d = xmlReadMemory(s->presence, (int)s->presence_len, NULL, NULL,
				    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	xmlNodePtr st = d ? stanza_child(xmlDocGetRootElement(d), STANZA_NS_CLIENT, "status")
			  : NULL;
	char *text = st ? stanza_text(st) : NULL;
	xmlFreeDoc(d);
	return text;
}

void last_session_end(struct core *c, const struct session *s)
{
	if (s->user->sessions != s || s->user_next)
		return; /* another session keeps the account online */
	/* A revoked account may be gone already: no record for it then. */
	if (store_user_exists(c->store, s->user->bare) != 1)
		return;
	char *status = last_status(s);
	if (store_last_set(c->store, s->user->bare, (int64_t)time(NULL), status))
		log_warn("last activity of %s not recorded", s->user->bare);
	free(status);
}
