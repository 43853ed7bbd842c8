#include "c2s.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "conn.h"
#include "connlog.h"
#include "csi.h"
#include "handoff.h"
#include "sasl2.h"
#include "sm.h"
#include "throttle.h"
#include "lib/jid.h"
#include "lib/log.h"
#include "lib/randpool.h"
#include "lib/stanza.h"
#include "lib/xstream.h"
#include "worker.h"

#define NS_STREAMS "http://etherx.jabber.org/streams"
#define NS_STREAM_ERRORS "urn:ietf:params:xml:ns:xmpp-streams"
#define NS_STANZA_ERRORS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_BIND "urn:ietf:params:xml:ns:xmpp-bind"
#define NS_SESSION "urn:ietf:params:xml:ns:xmpp-session"
#define NS_ROSTERVER "urn:xmpp:features:rosterver"
#define NS_PREAPPROVAL "urn:xmpp:features:pre-approval"
#define SASL_MAX_ATTEMPTS 3

/* Indexed by enum c2s_stream_error; RFC 6120 §4.9.3. */
static const char *const se_names[] = {
	[SE_BAD_FORMAT] = "bad-format",
	[SE_CONFLICT] = "conflict",
	[SE_CONNECTION_TIMEOUT] = "connection-timeout",
	[SE_HOST_UNKNOWN] = "host-unknown",
	[SE_INTERNAL_SERVER_ERROR] = "internal-server-error",
	[SE_INVALID_NAMESPACE] = "invalid-namespace",
	[SE_NOT_AUTHORIZED] = "not-authorized",
	[SE_NOT_WELL_FORMED] = "not-well-formed",
	[SE_POLICY_VIOLATION] = "policy-violation",
	[SE_RESOURCE_CONSTRAINT] = "resource-constraint",
	[SE_RESTRICTED_XML] = "restricted-xml",
	[SE_SYSTEM_SHUTDOWN] = "system-shutdown",
	[SE_UNSUPPORTED_STANZA_TYPE] = "unsupported-stanza-type",
	[SE_UNSUPPORTED_VERSION] = "unsupported-version",
	[SE_UNDEFINED_CONDITION] = "undefined-condition",
};

const char *c2s_stream_error_name(enum c2s_stream_error e) { return se_names[e]; }

static int ns_is(const struct stanza *s, const char *ns) { return s->ns && !strcmp(s->ns, ns); }

void c2s_random_hex(char *out, size_t bytes)
{
	if (randpool_hex(out, bytes))
		abort(); /* no randomness: nothing we generate would be safe */
}

const char *c2s_domain(const struct worker *w, const struct conn *c)
{
	return c->host && c->host <= w->cfg->nhosts ? w->cfg->hosts[c->host - 1] : w->cfg->domain;
}

/* RFC 6120 §4.7: our response header. Sent once per stream (restarts too). */
static void send_header(struct worker *w, struct conn *c)
{
	char id[33], hdr[512];
	c2s_random_hex(id, 16);
	snprintf(hdr, sizeof hdr,
		 "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
		 "xmlns:stream='" NS_STREAMS "' id='%s' from='%s' version='1.0' xml:lang='en'>",
		 id, c2s_domain(w, c));
	c->flags |= CONN_HEADER_SENT;
	conn_send_str(w, c, hdr);
}

void c2s_stream_error_app(struct worker *w, struct conn *c, enum c2s_stream_error e,
			  const char *app)
{
	if (c->flags & CONN_DETACHED) {
		sm_expire(w, c); /* no stream to tell: the session just ends */
		return;
	}
	if ((c->flags & CONN_DEAD) || c->state == C2S_CLOSING)
		return;
	conn_log(LOG_LEVEL_INFO, c, "stream error <%s/>", se_names[e]);
	conn_set_close_reason(c, CONN_CLOSE_STREAM_ERROR);
	/* XEP-0198 §5: only a lost peer (timed out) may come back for its
	 * session; after any other error of ours the session ends. */
	if (e != SE_CONNECTION_TIMEOUT)
		sm_no_resume(c);
	w->n_stream_errors[e]++;
	if (!(c->flags & CONN_HEADER_SENT))
		send_header(w, c);
	char msg[512];
	snprintf(msg, sizeof msg,
		 "<stream:error><%s xmlns='" NS_STREAM_ERRORS "'/>%s</stream:error></stream:stream>",
		 se_names[e], app ? app : "");
	conn_send_str(w, c, msg);
	conn_close(w, c);
}

void c2s_stream_error(struct worker *w, struct conn *c, enum c2s_stream_error e)
{
	c2s_stream_error_app(w, c, e, NULL);
}

void c2s_send_features(struct worker *w, struct conn *c)
{
	conn_send_str(w, c, "<stream:features>");
	if (!(c->flags & CONN_TLS)) {
		/* RFC 6120 §5.3.1: mandatory-to-negotiate when TLS is required. */
		conn_send_str(w, c,
			      w->cfg->require_tls ? "<starttls xmlns='" NS_TLS "'><required/></starttls>"
						  : "<starttls xmlns='" NS_TLS "'/>");
		if (!w->cfg->require_tls)
			auth_features(w, c);
	} else if (!(c->flags & CONN_AUTHED)) {
		auth_features(w, c);
	} else {
		/* RFC 6120 §7.4; RFC 6121 makes <session/> a no-op, advertised as
		 * optional for old clients (draft-cridland-xmpp-session); RFC 6121
		 * §2.6.1 and §3.4.1: the core versions rosters and takes
		 * pre-approvals. */
		/* Bound already by Bind 2 inside SASL2 (XEP-0386 §3.2): no bind. */
		if (!(c->flags & CONN_BOUND))
			conn_send_str(w, c,
				      "<bind xmlns='" NS_BIND "'/>"
				      "<session xmlns='" NS_SESSION "'><optional/></session>");
		conn_send_str(w, c,
			      "<ver xmlns='" NS_ROSTERVER "'/>"
			      "<sub xmlns='" NS_PREAPPROVAL "'/>"
			      "<csi xmlns='" CSI_NS "'/>");
		if (!c->sm) /* enabled already inside Bind 2's <bound/> */
			conn_send_str(w, c, "<sm xmlns='" SM_NS "'/>");
	}
	conn_send_str(w, c, "</stream:features>");
}

/* RFC 6120 §4.7.5: no version means pre-1.0, which we do not speak; another
 * major version is not ours either (§4.9.3.25's example); any 1.x is. */
static int version_ok(const char *v)
{
	if (!v)
		return 0;
	char *end;
	unsigned long major = strtoul(v, &end, 10);
	return end != v && *end == '.' && major == 1;
}

/* RFC 6120 §4.7, §4.8, §4.9.1.2: validate the client's header. */
/* The host index (conn.h) of the prepared domain dom, or -1 when it is not
 * hosted here. */
static int host_index(const struct worker *w, const char *dom)
{
	const char *d = config_hosted(w->cfg, dom);
	if (!d)
		return -1;
	return d == w->cfg->domain ? 0 : (int)((d - w->cfg->hosts[0]) / CONFIG_STR) + 1;
}

/* RFC 6120 §4.9.3.6: a 'to' naming no domain hosted here is host-unknown.
 * No 'to' means the primary domain (§4.7.2 lets a client omit it).  After
 * SASL the stream restarts (§6.4.6) for the same domain: the JID is bound in
 * the one it authenticated for. */
static int header_host(struct worker *w, struct conn *c, const char *to)
{
	char dom[JID_PART_MAX + 1];
	int i = 0;
	if (to && (jid_prep_domain(to, dom, sizeof dom) || (i = host_index(w, dom)) < 0))
		return -1;
	if ((c->flags & CONN_AUTHED) && (uint8_t)i != c->host)
		return -1;
	c->host = (uint8_t)i;
	return 0;
}

static int on_header(struct worker *w, struct conn *c, const char *bytes, size_t len)
{
	struct xs_header h;
	if (xs_parse_header(bytes, len, &h)) {
		send_header(w, c);
		c2s_stream_error(w, c, SE_NOT_WELL_FORMED);
		return XS_CB_STOP;
	}
	enum c2s_stream_error err = (enum c2s_stream_error)-1;
	/* The domain is chosen before our header goes out: its 'from' is the
	 * domain the client asked for (RFC 6120 §4.7.1). */
	int host_ok = !header_host(w, c, h.to);
	send_header(w, c);
	if (!h.name_ok || !h.stream_ns_ok || !h.content_ns_ok)
		err = SE_INVALID_NAMESPACE;
	else if (!host_ok)
		err = SE_HOST_UNKNOWN;
	else if (!version_ok(h.version))
		err = SE_UNSUPPORTED_VERSION;
	xs_header_free(&h);
	if (err != (enum c2s_stream_error)-1) {
		c2s_stream_error(w, c, err);
		return XS_CB_STOP;
	}
	c->state = C2S_OPEN;
	c2s_send_features(w, c);
	return XS_CB_CONTINUE;
}

/* TLS from here on (after <proceed/>, or from the first byte on the direct
 * port).  0, or -1 with c killed. */
static int tls_start(struct worker *w, struct conn *c)
{
	c->ssl = tls_new(worker_tls_ctx(w), &w->tio, 1, NULL);
	w->n_tls_started++;
	if (!c->ssl) {
		conn_kill(w, c);
		return -1;
	}
	/* NULL when the context does not capture secrets ([tls] lean_records
	 * off) or memory is short: OpenSSL carries the records throughout. */
	c->lean = tls_lean_new(c->ssl);
	return 0;
}

/* RFC 6120 §5.4.2.3: <proceed/>, then the TLS handshake on the same socket. */
static int on_starttls(struct worker *w, struct conn *c)
{
	if (c->flags & (CONN_TLS | CONN_AUTHED)) {
		/* Not offered again (§5.3.1), and never under an authenticated
		 * stream: stanzas could arrive before the new header. */
		c2s_stream_error(w, c, SE_POLICY_VIOLATION);
		return XS_CB_STOP;
	}
	/* §5.4.3.3: nothing learnt before TLS survives it, SASL state included. */
	auth_free(c);
	c->sasl_attempts = 0;
	conn_send_str(w, c, "<proceed xmlns='" NS_TLS "'/>");
	if (tls_start(w, c))
		return XS_CB_STOP;
	c->flags = (uint32_t)((c->flags | CONN_TLS) & ~CONN_HEADER_SENT);
	c->state = C2S_WAIT_HEADER;
	/* Whatever plaintext followed <starttls/> in this read is void (§5.4.3.3). */
	return XS_CB_STOP;
}

static void restart_stream(struct conn *c)
{
	c->state = C2S_WAIT_HEADER;
	c->flags &= (uint32_t)~CONN_HEADER_SENT;
}

/* §6.4.5: retries are limited; after the last failure the stream is closed. */
static int sasl_exhausted(struct worker *w, struct conn *c, enum auth_result r)
{
	if (r != AUTH_FAILED || c->sasl_attempts < SASL_MAX_ATTEMPTS)
		return 0;
	c2s_stream_error(w, c, SE_POLICY_VIOLATION);
	return 1;
}

static int on_sasl(struct worker *w, struct conn *c, const struct stanza *s)
{
	if (c->flags & CONN_AUTHED) {
		c2s_stream_error(w, c, SE_POLICY_VIOLATION); /* §6.4.8: once only */
		return XS_CB_STOP;
	}
	int v2 = ns_is(s, NS_SASL2);
	int start = !strcmp(s->name, v2 ? "authenticate" : "auth");
	if (c->auth && (v2 != !!(c->flags & CONN_SASL2) || (v2 && start))) {
		/* XEP-0388 §2.4: in a SASL2 exchange only <response/> and
		 * <abort/>, or the stream ends; nor does an exchange change
		 * profile half way. */
		c2s_stream_error(w, c, SE_POLICY_VIOLATION);
		return XS_CB_STOP;
	}
	if (!c->auth) /* the profile of this attempt, for its answers (auth.c) */
		c->flags = v2 ? c->flags | CONN_SASL2 : c->flags & ~CONN_SASL2;
	if (start && c->sasl_attempts++ >= SASL_MAX_ATTEMPTS) {
		/* Every <auth/> counts, so aborting and restarting cannot loop. */
		c2s_stream_error(w, c, SE_POLICY_VIOLATION);
		return XS_CB_STOP;
	}
	if (start && throttle_blocked(w, c)) {
		/* RFC 6120 §6.5.12: try again later; the password is not looked at. */
		w->n_auth_throttled_address++;
		auth_send_failure(w, c, "temporary-auth-failure",
				  "too many failed logins from this address; try again later");
		return sasl_exhausted(w, c, AUTH_FAILED) ? XS_CB_STOP : XS_CB_CONTINUE;
	}
	enum auth_result r = auth_on_element(w, c, s);
	if (r == AUTH_SUCCESS_INLINE)
		return XS_CB_CONTINUE; /* XEP-0388 §2.6.1: no restart */
	if (r == AUTH_SUCCESS) {
		restart_stream(c);
		return XS_CB_RESTART;
	}
	if (sasl_exhausted(w, c, r))
		return XS_CB_STOP;
	return XS_CB_CONTINUE;
}

const char *const c2s_stanza_error_names[C2S_STANZA_ERRS] = {
	"bad-request", "internal-server-error", "jid-malformed", "not-allowed",
	"resource-constraint", "other",
};

unsigned c2s_stanza_error_index(const char *cond)
{
	unsigned i = 0;
	while (i < C2S_STANZA_ERRS - 1 && strcmp(c2s_stanza_error_names[i], cond))
		i++;
	return i;
}

/* ` name='value'`, the value escaped; nothing when it is NULL.  0 or -ENOMEM. */
static int put_attr(struct buf *b, const char *name, const char *v)
{
	if (!v)
		return 0;
	return buf_append_str(b, " ") || buf_append_str(b, name) || buf_append_str(b, "='") ||
	       buf_append_xml_escaped(b, v, strlen(v)) || buf_append_str(b, "'") ? -ENOMEM : 0;
}

/* An error reply generated here (RFC 6120 §8.3), addressed to the client. */
static void stanza_error(struct worker *w, struct conn *c, const struct stanza *s,
			 const char *etype, const char *cond)
{
	if (s->type == STANZA_T_ERROR)
		return; /* §8.3.1: never answer an error with an error */
	w->n_stanza_errors[c2s_stanza_error_index(cond)]++;
	const char *kind = stanza_kind_name(s->kind);
	struct buf b = {0};
	int err = buf_append_str(&b, "<") || buf_append_str(&b, kind) ||
		  buf_append_str(&b, " type='error'") || put_attr(&b, "id", s->id) ||
		  put_attr(&b, "from", s->to) || buf_append_str(&b, "><error type='") ||
		  buf_append_str(&b, etype) || buf_append_str(&b, "'><") || buf_append_str(&b, cond) ||
		  buf_append_str(&b, " xmlns='" NS_STANZA_ERRORS "'/></error></") ||
		  buf_append_str(&b, kind) || buf_append_str(&b, ">");
	if (!err)
		sm_send(w, c, buf_head(&b), buf_avail(&b), NULL);
	buf_free(&b);
}

/* <iq type='result'/> for s, with payload (len bytes) as its child if any. */
static void send_iq_result(struct worker *w, struct conn *c, const struct stanza *s,
			   const char *payload, size_t len)
{
	struct buf b = {0};
	int err = buf_append_str(&b, "<iq type='result'") || put_attr(&b, "id", s->id);
	if (!err && len)
		err = buf_append_str(&b, ">") || buf_append(&b, payload, len) ||
		      buf_append_str(&b, "</iq>");
	else if (!err)
		err = buf_append_str(&b, "/>");
	if (!err)
		sm_send(w, c, buf_head(&b), buf_avail(&b), NULL);
	buf_free(&b);
}

/* RFC 6120 §7: bind a resource, client-chosen or ours. */
/* Dead-peer detection: any bytes from a bound client, a whitespace keepalive
 * (RFC 6120 §4.6.1) included, put it back at the end of the idle list. */
static void idle_restart(struct worker *w, struct conn *c)
{
	if (w->cfg->idle_timeout)
		conn_timer_set(w, c, CONN_TIMER_IDLE, (uint64_t)w->cfg->idle_timeout * 1000);
}

#define C2S_PING_ID "starling-ping"

void c2s_ping(struct worker *w, struct conn *c)
{
	char iq[CONFIG_STR + 128];
	snprintf(iq, sizeof iq, "<iq type='get' id='" C2S_PING_ID "' from='%s'>"
		 "<ping xmlns='urn:xmpp:ping'/></iq>", c2s_domain(w, c));
	sm_send(w, c, iq, strlen(iq), NULL);
	conn_timer_set(w, c, CONN_TIMER_PING, (uint64_t)w->cfg->ping_timeout * 1000);
}

int c2s_bind(struct worker *w, struct conn *c, const char *res)
{
	size_t n = strlen(c->jid) + 1 + strlen(res) + 1;
	char *full = malloc(n);
	if (!full)
		return -ENOMEM;
	snprintf(full, n, "%s/%s", c->jid, res);
	/* The core answers a conflict by closing the older session (§7.7.2.2),
	 * so the bind can be confirmed at once: frames on the link keep order. */
	if (uplink_session_open(w, c, full)) {
		free(full);
		return -ENOBUFS;
	}
	free(c->jid);
	c->jid = full;
	c->flags |= CONN_BOUND;
	conn_timer_clear(w, c); /* logged in: the login timeout no longer applies */
	idle_restart(w, c);
	return 0;
}

static void on_bind(struct worker *w, struct conn *c, const struct stanza *s, xmlNodePtr bind)
{
	char res[JID_PART_MAX + 1];
	xmlNodePtr r = stanza_child(bind, NS_BIND, "resource");
	char *want = r ? stanza_text(r) : NULL;
	int rc = 0;
	if (want && *want)
		rc = jid_prep_resource(want, res, sizeof res);
	else
		c2s_random_hex(res, 8);
	free(want);
	if (rc) {
		stanza_error(w, c, s, "modify", "bad-request"); /* §7.7.2.1 */
		return;
	}
	if (c2s_bind(w, c, res)) {
		stanza_error(w, c, s, "wait", "resource-constraint");
		return;
	}
	struct buf b = {0};
	if (!buf_append_str(&b, "<bind xmlns='" NS_BIND "'><jid>") &&
	    !buf_append_xml_escaped(&b, c->jid, strlen(c->jid)) &&
	    !buf_append_str(&b, "</jid></bind>"))
		send_iq_result(w, c, s, buf_head(&b), buf_avail(&b));
	buf_free(&b);
}

/* The client's presence broadcast (RFC 6121 §4.2, §4.4: no 'to') is kept
 * while it is available, so that a core that restarted can be told again
 * (c2s_announce); unavailable, or anything wrong, keeps nothing. */
static void keep_presence(struct conn *c, int type, const struct buf *xml)
{
	buf_free(&c->presence);
	if (type == STANZA_T_NONE && buf_append(&c->presence, buf_head(xml), buf_avail(xml)))
		buf_free(&c->presence);
}

/* Ingress: stamp from (RFC 6120 §8.1.2.1) and hand the stanza to the core. */
static void route(struct worker *w, struct conn *c, const struct stanza *s)
{
	if (s->type == STANZA_T_INVALID) {
		stanza_error(w, c, s, "modify", "bad-request");
		return;
	}
	struct jid to = {0};
	char *to_s = NULL;
	if (s->to) {
		if (jid_parse(s->to, &to) || !(to_s = jid_full(&to))) {
			jid_free(&to);
			stanza_error(w, c, s, "modify", "jid-malformed");
			return;
		}
		jid_free(&to);
	}
	struct buf xml = {0};
	if (stanza_serialize(s, &xml) == 0) {
		struct wire_stanza ws = {
			.kind = (uint8_t)s->kind,
			.type = (uint8_t)s->type,
			.id = {s->id ? s->id : "", s->id ? (uint32_t)strlen(s->id) : 0},
			.from = {c->jid, (uint32_t)strlen(c->jid)},
			.to = {to_s ? to_s : "", to_s ? (uint32_t)strlen(to_s) : 0},
			.xml = {buf_head(&xml), (uint32_t)buf_avail(&xml)},
		};
		trace_outbound(w, c->sid, w->turn_ns);
		if (wire_put_stanza(&w->link.out, c->sid, &ws))
			stanza_error(w, c, s, "wait", "resource-constraint");
		else
			w->n_stanzas_in[ws.kind & 3]++;
		if (s->kind == STANZA_PRESENCE && !s->to)
			keep_presence(c, s->type, &xml);
	} else {
		stanza_error(w, c, s, "wait", "internal-server-error");
	}
	buf_free(&xml);
	free(to_s);
}

/* The id of the carbons request c2s_enable_carbons makes, reserved as
 * C2S_PING_ID is: an answer with it is ours. */
#define C2S_CARBONS_ID "starling-bind2-carbons"

int c2s_enable_carbons(struct worker *w, struct conn *c)
{
	static const char xml[] =
		"<iq type=\"set\" id=\"" C2S_CARBONS_ID "\"><enable xmlns=\"" NS_CARBONS "\"/></iq>";
	struct wire_stanza ws = {
		.kind = STANZA_IQ,
		.type = STANZA_T_SET,
		.id = {C2S_CARBONS_ID, sizeof C2S_CARBONS_ID - 1},
		.from = {c->jid, (uint32_t)strlen(c->jid)},
		.xml = {xml, sizeof xml - 1},
	};
	if (wire_put_stanza(&w->link.out, c->sid, &ws))
		return -ENOBUFS;
	c->flags |= CONN_CARBONS_ASKED;
	return 0;
}

/* The core's answer to c2s_enable_carbons, which the client never asked
 * for: the first answer with its id while one is due, and only that one
 * (anyone may send an IQ with that id; after the answer it is the
 * client's). */
static int carbons_answer(struct conn *c, const struct wire_stanza *s)
{
	if (!(c->flags & CONN_CARBONS_ASKED) || s->kind != STANZA_IQ ||
	    (s->type != STANZA_T_RESULT && s->type != STANZA_T_ERROR) ||
	    s->id.len != sizeof C2S_CARBONS_ID - 1 || memcmp(s->id.p, C2S_CARBONS_ID, s->id.len))
		return 0;
	c->flags &= (uint32_t)~CONN_CARBONS_ASKED;
	return 1;
}

void c2s_announce(struct worker *w, struct conn *c)
{
	if (uplink_session_open(w, c, c->jid)) {
		conn_log(LOG_LEVEL_ERROR, c, "cannot announce the session to the core");
		return;
	}
	if (!buf_avail(&c->presence))
		return;
	struct wire_stanza ws = {
		.kind = STANZA_PRESENCE,
		.type = STANZA_T_NONE,
		.from = {c->jid, (uint32_t)strlen(c->jid)},
		.xml = {buf_head(&c->presence), (uint32_t)buf_avail(&c->presence)},
	};
	if (wire_put_stanza(&w->link.out, c->sid, &ws))
		conn_log(LOG_LEVEL_ERROR, c, "cannot tell the core the session's presence");
}

static int on_stanza(struct worker *w, struct conn *c, const struct stanza *s)
{
	if (!(c->flags & CONN_AUTHED)) {
		c2s_stream_error(w, c, SE_NOT_AUTHORIZED); /* §6.4.? stanzas before auth */
		return XS_CB_STOP;
	}
	sm_inbound(c); /* XEP-0198 §4: handled, whatever comes of it */
	xmlNodePtr child = s->kind == STANZA_IQ ? stanza_child(s->root, NULL, NULL) : NULL;
	int iq_set = s->kind == STANZA_IQ && s->type == STANZA_T_SET;
	if (iq_set && child && stanza_child(s->root, NS_BIND, "bind")) {
		/* Unbound with an SM state: the core is asked for a session that
		 * would take this connection's sid (sm_resume.c). */
		if ((c->flags & CONN_BOUND) || c->sm)
			stanza_error(w, c, s, "cancel", "not-allowed");
		else
			on_bind(w, c, s, stanza_child(s->root, NS_BIND, "bind"));
		return XS_CB_CONTINUE;
	}
	if (!(c->flags & CONN_BOUND)) {
		c2s_stream_error(w, c, SE_NOT_AUTHORIZED); /* §7.1: bind first */
		return XS_CB_STOP;
	}
	if (s->kind == STANZA_IQ && (s->type == STANZA_T_RESULT || s->type == STANZA_T_ERROR) &&
	    s->id && !strcmp(s->id, C2S_PING_ID) && (!s->to || !strcmp(s->to, c2s_domain(w, c))))
		return XS_CB_CONTINUE; /* the answer to c2s_ping: its bytes were enough */
	if (iq_set && stanza_child(s->root, NS_SESSION, "session")) {
		send_iq_result(w, c, s, NULL, 0);
		return XS_CB_CONTINUE;
	}
	route(w, c, s);
	return XS_CB_CONTINUE;
}

/* Does the element open with <name (unprefixed)? */
static int opens_with(const char *bytes, size_t len, const char *name, size_t n)
{
	return len > n + 1 && bytes[0] == '<' && !memcmp(bytes + 1, name, n) &&
	       bytes[n + 1] && strchr(" \t\r\n/>", bytes[n + 1]);
}

/* Messages and presence go to the core by their header and bytes alone
 * (route()): their parse builds no tree.  Anything else, or what turns out
 * not to be a stanza, is read into a tree for the code that looks inside. */
static int parse_element(const char *bytes, size_t len, struct stanza *s)
{
	if (opens_with(bytes, len, "message", 7) || opens_with(bytes, len, "presence", 8)) {
		int rc = stanza_parse_head(bytes, len, s);
		if (rc || s->kind != STANZA_OTHER)
			return rc;
		stanza_free(s);
	}
	return stanza_parse(bytes, len, s);
}

static int on_element(struct worker *w, struct conn *c, const char *bytes, size_t len)
{
	struct stanza s;
	if (parse_element(bytes, len, &s)) {
		stanza_free(&s);
		c2s_stream_error(w, c, SE_NOT_WELL_FORMED);
		return XS_CB_STOP;
	}
	int r;
	if (s.kind != STANZA_OTHER)
		r = on_stanza(w, c, &s);
	else if (ns_is(&s, NS_TLS) && !strcmp(s.name, "starttls"))
		r = on_starttls(w, c);
	else if (ns_is(&s, NS_SASL) || ns_is(&s, NS_SASL2))
		r = on_sasl(w, c, &s);
	else if (sm_nonza(w, c, &s))
		r = (c->flags & CONN_DEAD) || c->state == C2S_CLOSING ? XS_CB_STOP : XS_CB_CONTINUE;
	else if ((c->flags & CONN_BOUND) && csi_nonza(w, c, &s))
		r = XS_CB_CONTINUE; /* XEP-0352 §5: no answer */
	else {
		c2s_stream_error(w, c, SE_UNSUPPORTED_STANZA_TYPE);
		r = XS_CB_STOP;
	}
	stanza_free(&s);
	return r;
}

/* <abort/> may come at any step of SASL (RFC 6120 §6.4.4), even while we
 * wait for the core. */
static int is_sasl_abort(const char *bytes, size_t len)
{
	struct stanza s;
	int yes = stanza_parse(bytes, len, &s) == 0 &&
		  (ns_is(&s, NS_SASL) || ns_is(&s, NS_SASL2)) && !strcmp(s.name, "abort");
	stanza_free(&s);
	return yes;
}

struct feed_ctx {
	struct worker *w;
	struct conn *c;
};

static int on_event(void *arg, enum xs_event ev, const char *bytes, size_t len)
{
	struct feed_ctx *x = arg;
	struct conn *c = x->c;
	if (c->state == C2S_CLOSING || (c->flags & CONN_DEAD))
		return XS_CB_STOP;
	switch (ev) {
	case XS_STREAM_OPEN:
		return on_header(x->w, c, bytes, len);
	case XS_ELEMENT:
		if (c->state == C2S_AUTH_WAIT && !is_sasl_abort(bytes, len)) {
			/* The client must wait for our challenge (RFC 6120 §6.4.2). */
			c2s_stream_error(x->w, c, SE_POLICY_VIOLATION);
			return XS_CB_STOP;
		}
		return on_element(x->w, c, bytes, len);
	case XS_STREAM_CLOSE:
		/* §4.4: answer the close with ours, then end the connection. */
		c->flags |= CONN_CLIENT_CLOSED;
		conn_set_close_reason(c, CONN_CLOSE_CLIENT);
		conn_send_str(x->w, c, "</stream:stream>");
		conn_close(x->w, c);
		return XS_CB_STOP;
	}
	return XS_CB_STOP;
}

static void feed(struct worker *w, struct conn *c, const char *p, size_t n)
{
	struct feed_ctx x = {w, c};
	int rc = xs_feed(&c->xs, p, n, on_event, &x);
	switch (rc) {
	case 0:
		return;
	case XS_ERR_STOPPED:
		/* STARTTLS: the next bytes start a new stream.  A transport that
		 * leaves for a resumed session keeps its place in the stream. */
		if (!(c->flags & CONN_HANDOFF))
			xs_reset(&c->xs);
		return;
	case XS_ERR_RESTRICTED:
		c2s_stream_error(w, c, SE_RESTRICTED_XML);
		return;
	case XS_ERR_TOO_BIG:
		c2s_stream_error(w, c, SE_POLICY_VIOLATION);
		return;
	case XS_ERR_NOMEM:
		c2s_stream_error(w, c, SE_RESOURCE_CONSTRAINT);
		return;
	default:
		c2s_stream_error(w, c, SE_NOT_WELL_FORMED);
	}
}

void c2s_on_accept(struct worker *w, struct conn *c, int direct_tls)
{
	c->state = C2S_WAIT_HEADER;
	if (!direct_tls)
		return;
	/* XEP-0368: TLS from the first byte, then the stream as after STARTTLS. */
	if (tls_start(w, c))
		return;
	c->flags |= CONN_TLS | CONN_DIRECT_TLS;
}

/* A fatal TLS error: the alert (if any) goes out, then the close. */
static void tls_failed(struct worker *w, struct conn *c, int handshake_done, const char *why)
{
	conn_log(LOG_LEVEL_INFO, c, "TLS error: %s", why);
	conn_set_close_reason(c, CONN_CLOSE_TLS_ERROR);
	if (handshake_done)
		w->n_tls_errors++;
	else
		w->n_tls_handshake_failed++;
	conn_close(w, c);
}

/* Records through OpenSSL, the handshake included. */
static void ssl_read(struct worker *w, struct conn *c)
{
	for (;;) {
		int n = tls_read(c->ssl, w->plain, sizeof w->plain);
		if (n > 0) {
			feed(w, c, w->plain, (size_t)n);
			if (c->state == C2S_CLOSING || (c->flags & CONN_DEAD))
				break;
			w->tio.out = &c->out;
			continue;
		}
		if (n == -ECONNRESET) {
			c2s_on_eof(w, c);
		} else if (n < 0) {
			char e[160];
			tls_failed(w, c, tls_handshake_done(c->ssl), tls_error_string(e, sizeof e));
		}
		break;
	}
}

/* The handshake of a connection that may leave OpenSSL: driven only up to
 * the client's Finished, so that OpenSSL reads no application record, and
 * then the takeover.  Returns 1 when the records are lean from now on (the
 * rest of the input is theirs), 0 when the handshake needs more input or
 * failed, -1 when it is done on OpenSSL (TLS 1.2, another suite). */
static int lean_handshake(struct worker *w, struct conn *c)
{
	size_t before = buf_avail(&c->out);
	int r = tls_handshake(c->ssl);
	if (r <= 0) {
		char e[160];
		if (r < 0)
			tls_failed(w, c, 0, tls_error_string(e, sizeof e));
		return 0;
	}
	/* The session ticket OpenSSL just sealed is the one thing written under
	 * the application key so far. */
	unsigned cb = w->cfg->channel_binding ? TLS_CB_EXPORTER | TLS_CB_SERVER_END_POINT : 0;
	int rc = tls_lean_start(c->lean, c->ssl, (const uint8_t *)buf_head(&c->out) + before,
				buf_avail(&c->out) - before, cb);
	if (rc) {
		if (rc != -EPROTONOSUPPORT)
			conn_log(LOG_LEVEL_INFO, c, "TLS stays on OpenSSL: %s", strerror(-rc));
		tls_lean_free(c->lean);
		c->lean = NULL;
		return -1;
	}
	SSL_free(c->ssl);
	c->ssl = NULL;
	w->n_tls_lean++;
	conn_log(LOG_LEVEL_DEBUG, c, "TLS 1.3 %s: records without OpenSSL",
		 tls_lean_cipher_name(c->lean));
	return 1;
}

static int lean_deliver(void *arg, const char *data, size_t len)
{
	struct feed_ctx *x = arg;
	struct conn *c = x->c;
	feed(x->w, c, data, len);
	/* A handoff carries the records after this one, with the state that
	 * reads them. */
	return c->state == C2S_CLOSING || (c->flags & (CONN_DEAD | CONN_HANDOFF)) ? 1 : 0;
}

/* Records after a lean takeover: w->tio.in, consumed up to where reading
 * stopped. */
static void lean_read(struct worker *w, struct conn *c)
{
	struct feed_ctx x = {w, c};
	size_t used = 0;
	int rc = rec_read_n(&c->lean->rec, w->tio.in, w->tio.in_len, &c->out, lean_deliver, &x,
			    &used);
	w->tio.in += used;
	w->tio.in_len -= used;
	if (rc > 0 || c->state == C2S_CLOSING || (c->flags & CONN_DEAD))
		return;
	if (rc == -ECONNRESET) {
		c2s_on_eof(w, c);
	} else if (rc == -ENOMEM) {
		conn_kill(w, c);
	} else if (rc < 0) {
		rec_alert(&c->lean->rec, 20, &c->out); /* bad_record_mac, RFC 8446 §6.2 */
		tls_failed(w, c, 1, rc == -EPROTO ? "bad record or alert" : strerror(-rc));
	}
}

void c2s_on_data(struct worker *w, struct conn *c, const char *data, size_t len)
{
	if (c->state == C2S_CLOSING || (c->flags & CONN_DEAD))
		return;
	if (c->timer == CONN_TIMER_IDLE || c->timer == CONN_TIMER_PING)
		idle_restart(w, c);
	if (!conn_tls(c)) {
		feed(w, c, data, len);
		return;
	}
	int r;
	w->tio.in = (const uint8_t *)data;
	w->tio.in_len = len;
	w->tio.out = &c->out;
	if (!c->lean)
		ssl_read(w, c);
	else if (!c->ssl)
		lean_read(w, c);
	else if ((r = lean_handshake(w, c)) > 0)
		lean_read(w, c);
	else if (r < 0)
		ssl_read(w, c); /* what follows the handshake */
	if ((c->flags & CONN_HANDOFF) && w->tio.in_len)
		handoff_carry(w, c, w->tio.in, w->tio.in_len); /* records not yet read */
	w->tio.in = NULL;
	w->tio.in_len = 0;
	/* Handshake records may have been produced without any plaintext. */
	if (!(c->flags & CONN_DEAD) && buf_avail(&c->out))
		conn_schedule_flush(w, c);
}

void c2s_on_eof(struct worker *w, struct conn *c)
{
	conn_set_close_reason(c, CONN_CLOSE_PEER_LOST);
	if (c->state != C2S_CLOSING)
		conn_log(LOG_LEVEL_DEBUG, c, "connection closed by the client");
	c->flags |= CONN_INPUT_DONE;
	/* A half-closed client may still read: what we queued (our close, a
	 * stream error) goes out first, bounded by the closing timer. */
	if (conn_queued(c))
		conn_close(w, c);
	else
		conn_kill(w, c);
}

void c2s_on_going(struct worker *w, struct conn *c)
{
	/* A session that may be resumed waits for its release (sm_hibernate). */
	if (!sm_may_hibernate(w, c))
		c2s_on_close(w, c);
}

void c2s_on_close(struct worker *w, struct conn *c)
{
	if (c->flags & CONN_BOUND) {
		c->flags &= (uint32_t)~CONN_BOUND;
		/* RFC 6121 §4.5.2: the core broadcasts unavailable presence either way. */
		uint8_t reason =
			(c->flags & CONN_CLIENT_CLOSED) ? WIRE_CLOSE_NORMAL : WIRE_CLOSE_DISCONNECT;
		if (wire_put_u8_frame(&w->link.out, WIRE_SESSION_CLOSE, c->sid, reason))
			conn_log(LOG_LEVEL_ERROR, c, "cannot queue session close");
	}
	/* After the close: the core routes them with this session gone. */
	sm_return_unacked(w, c);
}

void c2s_on_stanza(struct worker *w, struct conn *c, const struct wire_stanza *s)
{
	if (!(c->flags & CONN_BOUND)) {
		/* Sent before the core read that the session ended here (a full
		 * JID: this connection had bound one). */
		if (c->jid && strchr(c->jid, '/'))
			sm_give_back(w, s);
		return;
	}
	if (carbons_answer(c, s)) {
		if (s->type == STANZA_T_ERROR)
			conn_log(LOG_LEVEL_WARN, c, "the core refused carbons for Bind 2");
		return;
	}
	/* Still bound while going, the session may be resumed: the stanza waits
	 * in its XEP-0198 queue. */
	int going = c->state == C2S_CLOSING || (c->flags & CONN_DEAD);
	w->n_stanzas_out[s->kind & 3]++;
	if (!going && csi_filter(w, c, s))
		return; /* held while the client is inactive */
	struct buf b = {0};
	if (wire_stanza_render(&b, s) == 0) {
		if (sm_send(w, c, buf_head(&b), buf_avail(&b), s))
			sm_give_back(w, s); /* the connection died taking it */
	} else
		conn_log(LOG_LEVEL_WARN, c, "unrenderable stanza from the core");
	buf_free(&b);
}

void c2s_on_session_opened(struct worker *w, struct conn *c, int status)
{
	if (status && (c->flags & CONN_BOUND)) {
		conn_log(LOG_LEVEL_WARN, c, "the core refused session %s (%d)", c->jid, status);
		c->flags &= (uint32_t)~CONN_BOUND;
		/* RFC 6120 §4.9.3.15: a local limit (sessions per account). */
		c2s_stream_error(w, c, status == WIRE_OPEN_LIMIT ? SE_POLICY_VIOLATION
								 : SE_INTERNAL_SERVER_ERROR);
	}
}

/* The stream error named by a KICK's condition (wire_conditions). */
static enum c2s_stream_error kick_error(int cond)
{
	for (int e = 0; cond >= 0 && cond < WIRE_CONDITION_COUNT && e < SE_COUNT; e++)
		if (!strcmp(se_names[e], wire_conditions[cond]))
			return (enum c2s_stream_error)e;
	return SE_POLICY_VIOLATION;
}

void c2s_on_session_close(struct worker *w, struct conn *c, int reason, int cond)
{
	/* A close for a session this connection never bound is stale: it was for
	 * an earlier connection on this slot (frames keep their order). */
	if (!(c->flags & CONN_BOUND))
		return;
	/* The core has dropped the session already: do not report it back. */
	c->flags &= (uint32_t)~CONN_BOUND;
	switch (reason) {
	case WIRE_CLOSE_CONFLICT:
		c2s_stream_error(w, c, SE_CONFLICT); /* RFC 6120 §7.7.2.2 */
		break;
	case WIRE_CLOSE_SHUTDOWN:
		c2s_stream_error(w, c, SE_SYSTEM_SHUTDOWN);
		break;
	case WIRE_CLOSE_REVOKED:
		c2s_stream_error(w, c, SE_NOT_AUTHORIZED);
		break;
	case WIRE_CLOSE_KICK: /* starlingctl kick: the core checked the name */
		c2s_stream_error(w, c, kick_error(cond));
		break;
	default:
		c2s_stream_error(w, c, SE_INTERNAL_SERVER_ERROR);
	}
}

void c2s_on_cred(struct worker *w, struct conn *c, const struct wire_frame *f)
{
	if (c->state != C2S_AUTH_WAIT || (c->flags & CONN_DEAD))
		return;
	enum auth_result r = auth_on_cred(w, c, f);
	if (r == AUTH_SUCCESS_INLINE)
		return; /* XEP-0388 §2.6.1: the stream goes on */
	if (r == AUTH_SUCCESS) {
		/* Not inside the framer here, so the restart resets it directly. */
		xs_reset(&c->xs);
		restart_stream(c);
	} else {
		sasl_exhausted(w, c, r);
	}
}
