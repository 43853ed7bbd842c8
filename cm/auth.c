#include "auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c2s.h"
#include "conn.h"
#include "lib/jid.h"
#include "lib/log.h"
#include "acctlimit.h"
#include "throttle.h"
#include "worker.h"

#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define SASL_MAX_PAYLOAD 8192
/* Iteration counts come from the database; a bound keeps one bad row from
 * stalling a worker in PBKDF2. */
#define AUTH_MAX_ITER 10000000

void auth_features(struct worker *w, struct conn *c)
{
	/* RFC 6120 §6.3.3; PLAIN only under TLS (§13.8.3). */
	conn_send_str(w, c,
		      "<mechanisms xmlns='" NS_SASL "'><mechanism>SCRAM-SHA-256</mechanism>"
		      "<mechanism>SCRAM-SHA-1</mechanism>");
	if (c->flags & CONN_TLS)
		conn_send_str(w, c, "<mechanism>PLAIN</mechanism>");
	conn_send_str(w, c, "</mechanisms>");
}

void auth_free(struct conn *c)
{
	struct auth_state *a = c->auth;
	if (!a)
		return;
	scram_server_free(&a->scram);
	free(a->username);
	if (a->password) {
		OPENSSL_cleanse(a->password, strlen(a->password));
		free(a->password);
	}
	free(a);
	c->auth = NULL;
}

/* RFC 6120 §6.4.5: <failure/> with a defined condition; the client may retry. */
static enum auth_result fail(struct worker *w, struct conn *c, const char *cond)
{
	char msg[160];
	snprintf(msg, sizeof msg, "<failure xmlns='" NS_SASL "'><%s/></failure>", cond);
	conn_send_str(w, c, msg);
	w->n_auth_failed++;
	if (!strcmp(cond, "not-authorized")) {
		throttle_failed(w, c); /* a wrong password, not a malformed request */
		if (c->auth && c->auth->username &&
		    acctlimit_failed(w->acctlimit, c->auth->username, w->now_ms))
			log_warn("conn %u: %u failed logins for %s; refusing its logins for %u s",
				 c->sid, w->cfg->auth_failures_per_account, c->auth->username,
				 w->cfg->auth_failure_window);
	}
	log_info("conn %u: SASL failure <%s/>%s%s", c->sid, cond, c->auth && c->auth->username ? " for " : "",
		 c->auth && c->auth->username ? c->auth->username : "");
	auth_free(c);
	if (c->state == C2S_AUTH_WAIT)
		c->state = C2S_OPEN;
	return AUTH_FAILED;
}

static enum auth_result send_b64(struct worker *w, struct conn *c, const char *el,
				 const char *data, size_t len)
{
	char *b64 = base64_encode((const uint8_t *)data, len);
	if (!b64)
		return fail(w, c, "temporary-auth-failure");
	char head[96];
	snprintf(head, sizeof head, "<%s xmlns='" NS_SASL "'>", el);
	conn_send_str(w, c, head);
	conn_send_str(w, c, b64);
	snprintf(head, sizeof head, "</%s>", el);
	conn_send_str(w, c, head);
	free(b64);
	return AUTH_CONTINUE;
}

static enum auth_result succeed(struct worker *w, struct conn *c, const char *final)
{
	char *jid = strdup(c->auth->username); /* the bare JID; owned by c from here */
	if (!jid)
		return fail(w, c, "temporary-auth-failure");
	if (final && send_b64(w, c, "success", final, strlen(final)) != AUTH_CONTINUE) {
		free(jid);
		return AUTH_FAILED; /* send_b64 answered <failure/> */
	}
	if (!final)
		conn_send_str(w, c, "<success xmlns='" NS_SASL "'/>");
	w->n_auth_ok++;
	log_info("conn %u: authenticated %s", c->sid, jid);
	free(c->jid);
	c->jid = jid;
	c->flags |= CONN_AUTHED;
	c->state = C2S_OPEN;
	auth_free(c);
	return AUTH_SUCCESS;
}

/* Decode the base64 payload of <auth/> or <response/>.  RFC 6120 §6.4.2: no
 * text means no data (*out = NULL), "=" means data of length zero.  *out is
 * malloc'd and NUL-terminated. */
static int decode_payload(const struct stanza *s, char **out, size_t *len)
{
	char *text = stanza_text(s->root);
	if (!text)
		return -ENOMEM;
	size_t tl = strlen(text);
	int rc = 0;
	*out = NULL;
	*len = 0;
	if (tl > SASL_MAX_PAYLOAD) {
		rc = -EMSGSIZE;
	} else if (tl == 0) {
		rc = 0;
	} else if (!strcmp(text, "=")) {
		*out = calloc(1, 1);
		rc = *out ? 0 : -ENOMEM;
	} else {
		uint8_t *d = base64_decode(text, tl, len);
		*out = d ? realloc(d, *len + 1) : NULL;
		if (!*out) {
			free(d);
			rc = -EINVAL;
		} else {
			(*out)[*len] = 0;
		}
	}
	free(text);
	return rc;
}

/* Decode the payload, or answer <failure/> (RFC 6120 §6.4.5) and return 1. */
static int decode_or_fail(struct worker *w, struct conn *c, const struct stanza *s, char **msg,
			  size_t *len, enum auth_result *r)
{
	int rc = decode_payload(s, msg, len);
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
	if (!c->auth->username ||
	    wire_put_str_frame(&w->link.out, WIRE_CRED_REQ, c->sid, c->auth->username))
		return fail(w, c, "temporary-auth-failure");
	c->state = C2S_AUTH_WAIT;
	return AUTH_CONTINUE;
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

static enum auth_result start_scram(struct worker *w, struct conn *c, const char *msg, size_t len)
{
	enum scram_hash h = c->auth->mech == AUTH_SCRAM_SHA1 ? SCRAM_SHA1 : SCRAM_SHA256;
	int rc = scram_server_start(&c->auth->scram, h, msg, len);
	if (rc)
		return fail(w, c, "malformed-request");
	if (!authzid_ok(w, c, c->auth->scram.authzid, c->auth->scram.username))
		return fail(w, c, "invalid-authzid");
	return request_creds(w, c, c->auth->scram.username);
}

static enum auth_result on_initial(struct worker *w, struct conn *c, const char *msg, size_t len)
{
	c->auth->step = 0;
	if (c->auth->mech == AUTH_PLAIN)
		return start_plain(w, c, msg, len);
	return start_scram(w, c, msg, len);
}

static enum auth_result on_auth(struct worker *w, struct conn *c, const struct stanza *s)
{
	auth_free(c); /* a new <auth/> aborts any exchange in progress */
	char *mech = (char *)xmlGetProp(s->root, (const xmlChar *)"mechanism");
	enum auth_mech m;
	int known = 1;
	if (mech && !strcmp(mech, "SCRAM-SHA-256"))
		m = AUTH_SCRAM_SHA256;
	else if (mech && !strcmp(mech, "SCRAM-SHA-1"))
		m = AUTH_SCRAM_SHA1;
	else if (mech && !strcmp(mech, "PLAIN") && (c->flags & CONN_TLS))
		m = AUTH_PLAIN;
	else
		known = 0;
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
	if (!msg) {
		/* No initial response: ask for it with an empty challenge. */
		c->auth->step = 2;
		conn_send_str(w, c, "<challenge xmlns='" NS_SASL "'/>");
		r = AUTH_CONTINUE;
	} else {
		r = on_initial(w, c, msg, len);
	}
	free(msg);
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
	if (!msg) {
		r = fail(w, c, "malformed-request"); /* every step of ours needs data */
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
	if (!strcmp(s->name, "auth"))
		return on_auth(w, c, s);
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
	enum scram_hash want = a->mech == AUTH_SCRAM_SHA1 ? SCRAM_SHA1 : SCRAM_SHA256;
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
