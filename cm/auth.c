#include "auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "c2s.h"
#include "conn.h"
#include "connlog.h"
#include "lib/jid.h"
#include "lib/log.h"
#include "acctlimit.h"
#include "sasl2.h"
#include "sm.h"
#include "throttle.h"
#include "tls/cbind.h"
#include "tls/peercert.h"
#include "worker.h"

#define NS_SASL_CB "urn:xmpp:sasl-cb:0"
#define SASL_MAX_PAYLOAD 8192
/* Iteration counts come from the database; a bound keeps one bad row from
 * stalling a worker in PBKDF2. */
#define AUTH_MAX_ITER 10000000

enum mech_need {
	NEED_TLS = 1 << 0,   /* PLAIN: only under TLS (RFC 6120 §13.8.3) */
	NEED_CBIND = 1 << 1, /* -PLUS: a channel-binding type on this connection */
	NEED_CERT = 1 << 2,  /* EXTERNAL: a client certificate that verified */
	NEED_DIGEST = 1 << 3, /* DIGEST-MD5: [c2s] digest_md5 on */
};

/* Indexed by enum auth_mech; hash 0 = not SCRAM. */
static const struct {
	const char *name;
	enum scram_hash hash;
	unsigned need;
} mechs[AUTH_MECHS] = {
	[AUTH_SCRAM_SHA256_PLUS] = {"SCRAM-SHA-256-PLUS", SCRAM_SHA256, NEED_TLS | NEED_CBIND},
	[AUTH_SCRAM_SHA1_PLUS] = {"SCRAM-SHA-1-PLUS", SCRAM_SHA1, NEED_TLS | NEED_CBIND},
	[AUTH_SCRAM_SHA256] = {"SCRAM-SHA-256", SCRAM_SHA256, 0},
	[AUTH_SCRAM_SHA1] = {"SCRAM-SHA-1", SCRAM_SHA1, 0},
	[AUTH_PLAIN] = {"PLAIN", 0, NEED_TLS},
	[AUTH_DIGEST_MD5] = {"DIGEST-MD5", 0, NEED_DIGEST},
	[AUTH_EXTERNAL] = {"EXTERNAL", 0, NEED_TLS | NEED_CERT},
};

const char *auth_mech_name(enum auth_mech m) { return mechs[m].name; }

/* The channel-binding types (enum tls_cb_type mask) this connection offers. */
static unsigned cb_types(const struct worker *w, const struct conn *c)
{
	if (!w->cfg->channel_binding || !(c->flags & CONN_TLS))
		return 0;
	if (c->lean)
		return tls_lean_cb_available(c->lean);
	return c->ssl ? tls_cb_available(c->ssl, 1) : 0;
}

static int mech_offered(const struct worker *w, const struct conn *c, enum auth_mech m)
{
	unsigned need = mechs[m].need;
	if ((need & NEED_TLS) && !(c->flags & CONN_TLS))
		return 0;
	/* RFC 6331 §1: historic, so only when the operator asked for it, and,
	 * as MD5 of a password-equivalent is all it sends, under TLS unless
	 * require_tls is off. */
	if ((need & NEED_DIGEST) &&
	    (!w->cfg->digest_md5 || (w->cfg->require_tls && !(c->flags & CONN_TLS))))
		return 0;
	/* RFC 6120 §6.3.4, XEP-0178 §2: EXTERNAL once the client proved a certificate. */
	if ((need & NEED_CERT) && !(c->lean ? c->lean->peer_verified : tls_peer_verified(c->ssl)))
		return 0;
	return !(need & NEED_CBIND) || cb_types(w, c);
}

/* The names of the mechanisms offered here, in advertising order. */
static size_t offered_names(const struct worker *w, const struct conn *c, const char **names)
{
	size_t n = 0;
	for (int m = 0; m < AUTH_MECHS; m++)
		if (mech_offered(w, c, (enum auth_mech)m))
			names[n++] = mechs[m].name;
	return n;
}

static size_t cb_names(unsigned types, const char **names)
{
	size_t n = 0;
	for (unsigned t = 1; t < 1u << TLS_CB_TYPES; t <<= 1)
		if (types & t)
			names[n++] = tls_cb_name((enum tls_cb_type)t);
	return n;
}

void auth_features(struct worker *w, struct conn *c)
{
	const char *names[AUTH_MECHS], *cbs[TLS_CB_TYPES];
	char el[96];
	size_t ncb = cb_names(cb_types(w, c), cbs), n = offered_names(w, c, names);
	/* XEP-0440 §2: one <channel-binding/> per type; none, no element. */
	if (ncb)
		conn_send_str(w, c, "<sasl-channel-binding xmlns='" NS_SASL_CB "'>");
	for (size_t i = 0; i < ncb; i++) {
		snprintf(el, sizeof el, "<channel-binding type='%s'/>", cbs[i]);
		conn_send_str(w, c, el);
	}
	if (ncb)
		conn_send_str(w, c, "</sasl-channel-binding>");
	/* RFC 6120 §6.3.3; RFC 5802 §6: -PLUS beside the plain variants. */
	conn_send_str(w, c, "<mechanisms xmlns='" NS_SASL "'>");
	for (size_t i = 0; i < n; i++) {
		snprintf(el, sizeof el, "<mechanism>%s</mechanism>", names[i]);
		conn_send_str(w, c, el);
	}
	conn_send_str(w, c, "</mechanisms>");
	/* XEP-0388 §3: SASL2 only over TLS. */
	if (c->flags & CONN_TLS)
		sasl2_features(w, c, names, n);
}

void auth_free(struct conn *c)
{
	struct auth_state *a = c->auth;
	if (!a)
		return;
	scram_server_free(&a->scram);
	digest_md5_resp_free(&a->digest);
	free(a->bind_tag);
	xmlFreeNode(a->sm_enable);
	free(a->username);
	if (a->password) {
		OPENSSL_cleanse(a->password, strlen(a->password));
		free(a->password);
	}
	free(a);
	c->auth = NULL;
}

void auth_send_failure(struct worker *w, struct conn *c, const char *cond, const char *text)
{
	if (c->flags & CONN_SASL2) {
		sasl2_failure(w, c, cond, text);
		return;
	}
	char msg[320];
	snprintf(msg, sizeof msg, "<failure xmlns='" NS_SASL "'><%s/>%s%s%s</failure>", cond,
		 text ? "<text xml:lang='en'>" : "", text ? text : "", text ? "</text>" : "");
	conn_send_str(w, c, msg);
}

/* RFC 6120 §6.4.5: <failure/> with a defined condition and optional
 * <text/> (§6.5); the client may retry. */
static enum auth_result refuse(struct worker *w, struct conn *c, const char *cond,
			       const char *text)
{
	auth_send_failure(w, c, cond, text);
	w->n_auth_failed++;
	w->n_auth_failures[cm_metrics_auth_cond(cond)]++;
	if (c->auth) /* a mechanism was chosen */
		w->n_logins[c->auth->mech][0]++;
	conn_log(LOG_LEVEL_INFO, c, "SASL failure <%s/>%s%s%s%s", cond,
		 c->auth && c->auth->username ? " for " : "",
		 c->auth && c->auth->username ? c->auth->username : "", text ? ": " : "",
		 text ? text : "");
	auth_free(c);
	if (c->state == C2S_AUTH_WAIT)
		c->state = C2S_OPEN;
	return AUTH_FAILED;
}

static enum auth_result fail(struct worker *w, struct conn *c, const char *cond)
{
	if (!strcmp(cond, "not-authorized")) {
		throttle_failed(w, c); /* a wrong password, not a malformed request */
		if (c->auth && c->auth->username &&
		    acctlimit_failed(w->acctlimit, c->auth->username, w->now_ms))
			conn_log(LOG_LEVEL_WARN, c,
				 "%u failed logins for %s; refusing its logins for %u s",
				 w->cfg->auth_failures_per_account, c->auth->username,
				 w->cfg->auth_failure_window);
	}
	return refuse(w, c, cond, NULL);
}

static enum auth_result send_b64(struct worker *w, struct conn *c, const char *el,
				 const char *data, size_t len)
{
	char *b64 = base64_encode((const uint8_t *)data, len);
	if (!b64)
		return fail(w, c, "temporary-auth-failure");
	char head[96];
	snprintf(head, sizeof head, "<%s xmlns='%s'>", el,
		 c->flags & CONN_SASL2 ? NS_SASL2 : NS_SASL);
	conn_send_str(w, c, head);
	conn_send_str(w, c, b64);
	snprintf(head, sizeof head, "</%s>", el);
	conn_send_str(w, c, head);
	free(b64);
	return AUTH_CONTINUE;
}

/* XEP-0388 §2.6.1, XEP-0386 §3.2: the resource is bound before <success/>
 * names it; the features of the authenticated stream follow, and no
 * restart.  A bind that fails leaves the bare JID and <bind/> offered. */
static enum auth_result succeed_sasl2(struct worker *w, struct conn *c, const char *final)
{
	struct auth_state *a = c->auth;
	int bound = 0;
	if (a->bind2) {
		char res[JID_PART_MAX + 1];
		sasl2_resource(a->bind_tag, res, sizeof res);
		bound = c2s_bind(w, c, res) == 0;
	}
	if (sasl2_success_head(w, c, final, final ? strlen(final) : 0, c->jid)) {
		auth_free(c);
		return AUTH_FAILED; /* the connection is closed */
	}
	if (bound) {
		/* What the session starts with, and the answers inside <bound/>. */
		if (a->inactive)
			c->flags |= CONN_INACTIVE;
		/* XEP-0386 §3.2: carbons MUST be on; nothing to answer. */
		if (a->carbons && c2s_enable_carbons(w, c))
			conn_log(LOG_LEVEL_WARN, c, "cannot ask the core for carbons");
		conn_send_str(w, c, "<bound xmlns='" NS_BIND2 "'>");
		if (a->sm_enable)
			sm_enable(w, c, a->sm_enable);
		conn_send_str(w, c, "</bound>");
	}
	conn_send_str(w, c, "</success>");
	c2s_send_features(w, c);
	auth_free(c);
	return AUTH_SUCCESS_INLINE;
}

static enum auth_result succeed(struct worker *w, struct conn *c, const char *final)
{
	char *jid = strdup(c->auth->username); /* the bare JID; owned by c from here */
	if (!jid)
		return fail(w, c, "temporary-auth-failure");
	int sasl2 = !!(c->flags & CONN_SASL2);
	if (!sasl2 && final && send_b64(w, c, "success", final, strlen(final)) != AUTH_CONTINUE) {
		free(jid);
		return AUTH_FAILED; /* send_b64 answered <failure/> */
	}
	if (!sasl2 && !final)
		conn_send_str(w, c, "<success xmlns='" NS_SASL "'/>");
	w->n_auth_ok++;
	w->n_auth_sasl2 += (uint64_t)sasl2;
	w->n_logins[c->auth->mech][1]++;
	free(c->jid);
	c->jid = jid;
	conn_log(LOG_LEVEL_INFO, c, "authenticated %s%s", jid, /* with its jid field */
		 sasl2 ? " (SASL2)" : "");
	c->flags |= CONN_AUTHED;
	c->state = C2S_OPEN;
	if (sasl2)
		return succeed_sasl2(w, c, final);
	auth_free(c);
	return AUTH_SUCCESS;
}

/* Decode the payload, or answer <failure/> (RFC 6120 §6.4.5) and return 1. */
static int decode_or_fail(struct worker *w, struct conn *c, const struct stanza *s, char **msg,
			  size_t *len, enum auth_result *r)
{
	int rc = sasl_decode(s->root, SASL_MAX_PAYLOAD, !!(c->flags & CONN_SASL2), msg, len);
	if (!rc)
		return 0;
	*r = fail(w, c, rc == -EINVAL ? "incorrect-encoding" : "malformed-request");
	return 1;
}

/* The SASL username is a localpart (RFC 6120 §6.3.7 leaves its form to the
 * mechanism; RFC 5802 §5.1 and RFC 4616 give a simple user name); the
 * account is that localpart in the stream's domain, and its bare JID is what
 * the core is asked for (CRED_REQ, link version 3). */
static enum auth_result request_creds(struct worker *w, struct conn *c, const char *user)
{
	char prepped[JID_PART_MAX + 1];
	if (jid_prep_local(user, prepped, sizeof prepped))
		return fail(w, c, "not-authorized");
	const char *dom = c2s_domain(w, c);
	size_t n = strlen(prepped) + 1 + strlen(dom) + 1;
	c->auth->username = malloc(n); /* owned by the auth state */
	if (c->auth->username)
		snprintf(c->auth->username, n, "%s@%s", prepped, dom);
	if (c->auth->username && acctlimit_blocked(w->acctlimit, c->auth->username, w->now_ms)) {
		/* RFC 6120 §6.5.12: try later.  Refused before the core is asked,
		 * so the password is never checked while the account is locked. */
		w->n_auth_throttled_account++;
		return fail(w, c, "temporary-auth-failure");
	}
	if (!c->auth->username || w->link.down ||
	    wire_put_str_frame(&w->link.out, WIRE_CRED_REQ, c->sid, c->auth->username))
		return fail(w, c, "temporary-auth-failure"); /* §6.5.12: the core is away */
	c->state = C2S_AUTH_WAIT;
	return AUTH_CONTINUE;
}

void auth_link_lost(struct worker *w, struct conn *c)
{
	if (c->state == C2S_AUTH_WAIT)
		refuse(w, c, "temporary-auth-failure", "the server is restarting; try again");
}

/* RFC 6120 §6.3.8: an authzid may only name the account itself; we offer no
 * proxy login. Absent or empty is fine. */
static int authzid_ok(struct worker *w, struct conn *c, const char *authzid, const char *user)
{
	if (!authzid || !*authzid)
		return 1;
	char want[JID_PART_MAX * 2 + 2];
	snprintf(want, sizeof want, "%s@%s", user, c2s_domain(w, c));
	return !strcmp(authzid, want);
}

/* RFC 4616: [authzid] NUL authcid NUL passwd. */
static enum auth_result start_plain(struct worker *w, struct conn *c, const char *msg, size_t len)
{
	const char *authcid = memchr(msg, 0, len);
	const char *pass = authcid ? memchr(authcid + 1, 0, len - (size_t)(authcid + 1 - msg)) : NULL;
	if (!authcid || !pass || !authcid[1] || !pass[1] || memchr(pass + 1, 0, len - (size_t)(pass + 1 - msg)))
		return fail(w, c, "malformed-request");
	authcid++;
	pass++;
	if (!authzid_ok(w, c, msg, authcid))
		return fail(w, c, "invalid-authzid");
	c->auth->password = strndup(pass, len - (size_t)(pass - msg));
	if (!c->auth->password)
		return fail(w, c, "temporary-auth-failure");
	return request_creds(w, c, authcid);
}

/* The connection's binding data for the type a -PLUS client named.  RFC
 * 5802 §6: a type we do not support fails the exchange. */
static enum auth_result bind_channel(struct worker *w, struct conn *c)
{
	struct scram_server *s = &c->auth->scram;
	enum tls_cb_type t = tls_cb_by_name(s->cb_name);
	uint8_t data[TLS_CB_MAX_DATA];
	size_t len;
	if (!t || !(cb_types(w, c) & t))
		return refuse(w, c, "not-authorized", "channel binding type not supported here");
	if ((c->lean ? tls_lean_cb_data(c->lean, t, data, &len) : tls_cb_data(c->ssl, 1, t, data, &len)) ||
	    scram_server_set_cbind(s, data, len))
		return fail(w, c, "temporary-auth-failure");
	return AUTH_CONTINUE;
}

/* XEP-0474 §4.1: h= over what this connection advertised. */
static int set_ssdp(struct worker *w, struct conn *c)
{
	const char *names[AUTH_MECHS], *cbs[TLS_CB_TYPES];
	size_t n = offered_names(w, c, names), ncb = cb_names(cb_types(w, c), cbs);
	return scram_server_set_ssdp(&c->auth->scram, names, n, ncb ? cbs : NULL, ncb);
}

static enum auth_result start_scram(struct worker *w, struct conn *c, const char *msg, size_t len)
{
	enum auth_mech m = c->auth->mech;
	enum scram_cb_mode mode = mechs[m].need & NEED_CBIND ? SCRAM_CB_PLUS
				  : cb_types(w, c)	    ? SCRAM_CB_OFFERED
							    : SCRAM_CB_NONE;
	int rc = scram_server_start_cb(&c->auth->scram, mechs[m].hash, mode, msg, len);
	if (rc == -EPERM) /* RFC 5802 §6: someone hid our -PLUS from the client */
		return refuse(w, c, "not-authorized", "channel binding is offered: downgrade refused");
	if (rc == -ENOTSUP)
		return refuse(w, c, "malformed-request",
			      mode == SCRAM_CB_PLUS ? "a -PLUS mechanism needs the p= flag"
						    : "channel binding needs a -PLUS mechanism");
	if (rc)
		return fail(w, c, "malformed-request");
	if (mode == SCRAM_CB_PLUS && bind_channel(w, c) != AUTH_CONTINUE)
		return AUTH_FAILED;
	if (set_ssdp(w, c))
		return fail(w, c, "temporary-auth-failure");
	if (!authzid_ok(w, c, c->auth->scram.authzid, c->auth->scram.username))
		return fail(w, c, "invalid-authzid");
	return request_creds(w, c, c->auth->scram.username);
}

/* The localpart of jid when it is a bare JID in the stream's domain: the
 * accounts this stream may log in to.  0 or -EINVAL. */
static int local_of(struct worker *w, struct conn *c, const char *jid, char *local, size_t cap)
{
	struct jid j;
	int ok = !jid_parse(jid, &j) && j.local && !j.resource &&
		 !strcmp(j.domain, c2s_domain(w, c)) && strlen(j.local) < cap;
	if (ok)
		memcpy(local, j.local, strlen(j.local) + 1);
	jid_free(&j);
	return ok ? 0 : -EINVAL;
}

/* XEP-0178 §2 step 10: which certificate identity to log in as.  Returns
 * NULL with the localpart in pick, or the failure condition. */
static const char *external_pick(struct worker *w, struct conn *c, char **ids, int n,
				 const char *authzid, char *pick, size_t cap)
{
	char want[JID_PART_MAX + 1], local[JID_PART_MAX + 1];
	int valid = 0, matched = 0;
	if (authzid && local_of(w, c, authzid, want, sizeof want))
		return "invalid-authzid"; /* RFC 6120 §6.3.8: only an account here */
	for (int i = 0; i < n; i++) {
		if (local_of(w, c, ids[i], local, sizeof local))
			continue;
		if (!valid++)
			snprintf(pick, cap, "%s", local);
		if (authzid && !strcmp(local, want))
			matched = 1;
	}
	if (authzid) {
		snprintf(pick, cap, "%s", want);
		return matched ? NULL : "invalid-authzid"; /* not a name the certificate holds */
	}
	if (!valid)
		return "not-authorized"; /* no identity we can map to an account */
	return valid > 1 ? "invalid-authzid" : NULL; /* several: the client must choose */
}

/* RFC 4422 Appendix A: the message is the authzid, empty for none. */
static enum auth_result start_external(struct worker *w, struct conn *c, const char *msg,
				       size_t len)
{
	char *ids[TLS_PEER_MAX_IDS], pick[JID_PART_MAX + 1];
	if (memchr(msg, 0, len))
		return fail(w, c, "malformed-request");
	int n = c->lean ? tls_lean_peer_ids(c->lean, ids, TLS_PEER_MAX_IDS)
			: tls_peer_ids(c->ssl, ids, TLS_PEER_MAX_IDS);
	if (n < 0)
		return fail(w, c, "temporary-auth-failure");
	const char *cond = external_pick(w, c, ids, n, len ? msg : NULL, pick, sizeof pick);
	while (n)
		free(ids[--n]);
	if (cond)
		return fail(w, c, cond);
	return request_creds(w, c, pick); /* the account must exist */
}

/* RFC 2831 §2.1.1: the server speaks first, so no initial response (§2.2's
 * subsequent authentication is not offered).  Realm: the stream's domain,
 * the one the account's stored hash was made with. */
static enum auth_result start_digest(struct worker *w, struct conn *c, const char *msg,
				     size_t len)
{
	char ch[DIGEST_MD5_CHALLENGE_MAX];
	if (msg && len)
		return fail(w, c, "malformed-request");
	if (digest_md5_challenge(c2s_domain(w, c), c->auth->nonce, ch, sizeof ch))
		return fail(w, c, "temporary-auth-failure");
	c->auth->step = 3;
	return send_b64(w, c, "challenge", ch, strlen(ch));
}

/* RFC 2831 §2.1.2: the digest-response must answer our challenge (realm,
 * nonce, nc, qop) for this server (digest-uri "xmpp/<domain>", RFC 3920
 * §6.3: service "xmpp") before the core is asked for the account's hash.  A
 * mismatch counts as a wrong password: it is one, or a replay. */
static enum auth_result digest_response(struct worker *w, struct conn *c, const char *msg,
					size_t len)
{
	struct auth_state *a = c->auth;
	const char *dom = c2s_domain(w, c);
	char uri[320];
	int rc = digest_md5_parse(msg, len, &a->digest);
	if (rc)
		return fail(w, c, rc == -ENOMEM ? "temporary-auth-failure" : "malformed-request");
	snprintf(uri, sizeof uri, "xmpp/%s", dom);
	if (digest_md5_check(&a->digest, dom, a->nonce, uri))
		return fail(w, c, "not-authorized");
	if (!authzid_ok(w, c, a->digest.v[DM_AUTHZID], a->digest.v[DM_USERNAME]))
		return fail(w, c, "invalid-authzid");
	a->step = 0;
	return request_creds(w, c, a->digest.v[DM_USERNAME]);
}

/* §2.1.2.1: the response must come from the account's stored hash.  With
 * none (no account, or a password set while digest_md5 was off) a random
 * hash fails the same way, so the answer tells nothing about the account.
 * §2.1.3: rspauth proves the server knew the hash too; RFC 3920 §6.5 steps
 * 7-9 carry it in a <challenge/> that the client answers with an empty
 * <response/>.  RFC 6120 §6.4.6 would allow it in <success/>, but clients
 * written for DIGEST-MD5's era expect the challenge. */
static enum auth_result digest_verify(struct worker *w, struct conn *c,
				      const struct wire_cred_entry *e, unsigned n)
{
	struct auth_state *a = c->auth;
	uint8_t urp[DIGEST_MD5_URP_LEN];
	char rsp[sizeof "rspauth=" + DIGEST_MD5_HEX_LEN] = "rspauth=";
	int found = 0;
	for (unsigned i = 0; i < n; i++)
		if (e[i].hash == WIRE_HASH_DIGEST_MD5 && e[i].stored_key.len == sizeof urp) {
			memcpy(urp, e[i].stored_key.p, sizeof urp);
			found = 1;
		}
	if (!found && RAND_bytes(urp, sizeof urp) != 1)
		return fail(w, c, "temporary-auth-failure");
	int ok = digest_md5_verify(urp, &a->digest) && found;
	if (ok && digest_md5_response(urp, &a->digest, 1, rsp + strlen(rsp)))
		ok = -1;
	OPENSSL_cleanse(urp, sizeof urp);
	if (ok != 1)
		return fail(w, c, ok ? "temporary-auth-failure" : "not-authorized");
	a->step = 4;
	return send_b64(w, c, "challenge", rsp, strlen(rsp));
}

static enum auth_result on_initial(struct worker *w, struct conn *c, const char *msg, size_t len)
{
	c->auth->step = 0;
	if (c->auth->mech == AUTH_PLAIN)
		return start_plain(w, c, msg, len);
	if (c->auth->mech == AUTH_EXTERNAL)
		return start_external(w, c, msg, len);
	return start_scram(w, c, msg, len);
}

/* The mechanism named, if this connection is offered it; else AUTH_MECHS. */
static enum auth_mech mech_by_name(struct worker *w, struct conn *c, const char *name)
{
	for (int i = 0; name && i < AUTH_MECHS; i++)
		if (!strcmp(name, mechs[i].name) && mech_offered(w, c, (enum auth_mech)i))
			return (enum auth_mech)i;
	return AUTH_MECHS;
}

/* The exchange once the mechanism is chosen: msg is the initial response,
 * NULL for none (RFC 6120 §6.4.2; XEP-0388 §2.3). */
static enum auth_result start(struct worker *w, struct conn *c, const char *msg, size_t len)
{
	if (c->auth->mech == AUTH_DIGEST_MD5)
		return start_digest(w, c, msg, len);
	if (msg)
		return on_initial(w, c, msg, len);
	/* No initial response: ask for it with an empty challenge. */
	c->auth->step = 2;
	conn_send_str(w, c, c->flags & CONN_SASL2 ? "<challenge xmlns='" NS_SASL2 "'/>"
						   : "<challenge xmlns='" NS_SASL "'/>");
	return AUTH_CONTINUE;
}

static enum auth_result on_auth(struct worker *w, struct conn *c, const struct stanza *s)
{
	auth_free(c); /* a new <auth/> aborts any exchange in progress */
	char *mech = (char *)xmlGetProp(s->root, (const xmlChar *)"mechanism");
	enum auth_mech m = mech_by_name(w, c, mech);
	int known = m != AUTH_MECHS;
	xmlFree(mech);
	if (!(c->flags & CONN_TLS) && w->cfg->require_tls)
		return fail(w, c, "encryption-required"); /* §6.4.5 */
	if (!known)
		return fail(w, c, "invalid-mechanism");
	c->auth = calloc(1, sizeof *c->auth);
	if (!c->auth)
		return fail(w, c, "temporary-auth-failure");
	c->auth->mech = m;
	char *msg;
	size_t len;
	enum auth_result r;
	if (decode_or_fail(w, c, s, &msg, &len, &r))
		return r;
	r = start(w, c, msg, len);
	free(msg);
	return r;
}

/* XEP-0388 §2.3: the mechanism and its initial response, and what the
 * stream should become (Bind 2), in one element. */
static enum auth_result on_authenticate(struct worker *w, struct conn *c, const struct stanza *s)
{
	auth_free(c); /* a new <authenticate/> aborts any exchange in progress */
	if (!(c->flags & CONN_TLS))
		return fail(w, c, "encryption-required"); /* §3: SASL2 only over TLS */
	struct sasl2_request q;
	int rc = sasl2_parse_authenticate(s, SASL_MAX_PAYLOAD, &q);
	if (rc)
		return fail(w, c, rc == -ENOENT	  ? "invalid-mechanism"
				  : rc == -EINVAL ? "incorrect-encoding"
						  : "malformed-request");
	enum auth_mech m = mech_by_name(w, c, q.mech);
	if (m == AUTH_MECHS) { /* §2.3: one not offered MUST fail */
		sasl2_request_free(&q);
		return fail(w, c, "invalid-mechanism");
	}
	c->auth = calloc(1, sizeof *c->auth);
	if (!c->auth) {
		sasl2_request_free(&q);
		return fail(w, c, "temporary-auth-failure");
	}
	c->auth->mech = m;
	c->auth->bind2 = q.bind;
	c->auth->bind_tag = q.tag; /* the state owns them now */
	c->auth->sm_enable = q.sm_enable;
	c->auth->inactive = q.inactive;
	c->auth->carbons = q.carbons;
	q.tag = NULL;
	q.sm_enable = NULL;
	enum auth_result r = start(w, c, q.initial, q.initial_len);
	sasl2_request_free(&q);
	return r;
}

static enum auth_result on_response(struct worker *w, struct conn *c, const struct stanza *s)
{
	if (!c->auth || c->auth->step == 0)
		return fail(w, c, "malformed-request");
	char *msg;
	size_t len;
	enum auth_result r;
	if (decode_or_fail(w, c, s, &msg, &len, &r))
		return r;
	if (c->auth->step == 4) {
		/* RFC 2831 §2.1.3: after rspauth the client has nothing to add. */
		r = msg && len ? fail(w, c, "malformed-request") : succeed(w, c, NULL);
	} else if (!msg) {
		r = fail(w, c, "malformed-request"); /* every other step needs data */
	} else if (c->auth->step == 3) {
		r = digest_response(w, c, msg, len);
	} else if (c->auth->step == 2) {
		r = on_initial(w, c, msg, len);
	} else {
		char *final = NULL;
		int rc = scram_server_final(&c->auth->scram, msg, len, &final);
		if (rc == 0)
			r = succeed(w, c, final);
		else
			r = fail(w, c, rc == -EPERM ? "not-authorized" : "malformed-request");
		free(final);
	}
	free(msg);
	return r;
}

enum auth_result auth_on_element(struct worker *w, struct conn *c, const struct stanza *s)
{
	int v2 = s->ns && !strcmp(s->ns, NS_SASL2);
	if (!strcmp(s->name, v2 ? "authenticate" : "auth"))
		return v2 ? on_authenticate(w, c, s) : on_auth(w, c, s);
	if (!strcmp(s->name, "response"))
		return on_response(w, c, s);
	if (!strcmp(s->name, "abort"))
		return fail(w, c, "aborted");
	return fail(w, c, "malformed-request");
}

static int creds_from_wire(const struct wire_cred_entry *e, struct scram_creds *out)
{
	size_t hl = scram_hash_len((enum scram_hash)e->hash);
	if (e->salt.len > sizeof out->salt || e->stored_key.len != hl || e->server_key.len != hl)
		return -EPROTO;
	memset(out, 0, sizeof *out);
	out->hash = (enum scram_hash)e->hash;
	memcpy(out->salt, e->salt.p, e->salt.len);
	out->salt_len = e->salt.len;
	out->iter = e->iter;
	memcpy(out->stored_key, e->stored_key.p, hl);
	memcpy(out->server_key, e->server_key.p, hl);
	return 0;
}

enum auth_result auth_on_cred(struct worker *w, struct conn *c, const struct wire_frame *f)
{
	struct auth_state *a = c->auth;
	uint8_t status;
	struct wire_str user;
	struct wire_cred_entry e[WIRE_MAX_CREDS];
	unsigned n = 0;
	int rc = wire_get_cred(f, &status, &user, e, &n);
	/* A reply for another name belongs to an earlier connection that held
	 * this session id: applying it would log this one in as that user. */
	if (!rc && (!a || !a->username || !wire_str_eq(user, a->username)))
		return AUTH_CONTINUE;
	c->state = C2S_OPEN;
	if (rc || status == WIRE_CRED_ERROR)
		return fail(w, c, "temporary-auth-failure");
	if (a->mech == AUTH_EXTERNAL) /* the certificate vouched; the account must exist */
		return status == WIRE_CRED_OK ? succeed(w, c, NULL) : fail(w, c, "not-authorized");
	if (a->mech == AUTH_DIGEST_MD5)
		return digest_verify(w, c, e, status == WIRE_CRED_OK ? n : 0);
	/* PLAIN checks against the SHA-256 credentials. */
	enum scram_hash want = mechs[a->mech].hash ? mechs[a->mech].hash : SCRAM_SHA256;
	struct scram_creds cr;
	int found = 0;
	for (unsigned i = 0; status == WIRE_CRED_OK && i < n; i++)
		if (e[i].hash == want && creds_from_wire(&e[i], &cr) == 0)
			found = 1;
	/* An unknown user costs the same work as a known one and fails at the
	 * same point, so a client cannot probe which accounts exist. */
	if (!found && scram_fake_creds(want, a->username, w->cfg->scram_iterations, &cr))
		return fail(w, c, "temporary-auth-failure");
	if (cr.iter < 1 || cr.iter > AUTH_MAX_ITER)
		return fail(w, c, "temporary-auth-failure");
	if (a->mech == AUTH_PLAIN) {
		if (scram_check_password(&cr, a->password) != 1 || !found)
			return fail(w, c, "not-authorized");
		return succeed(w, c, NULL);
	}
	const char *first;
	if (scram_server_first(&a->scram, &cr, &first))
		return fail(w, c, "temporary-auth-failure");
	a->step = 1;
	return send_b64(w, c, "challenge", first, strlen(first));
}
