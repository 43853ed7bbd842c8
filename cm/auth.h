/* auth: SASL for c2s streams (RFC 6120 §6): SCRAM-SHA-256, SCRAM-SHA-1,
 * their -PLUS variants with channel binding (RFC 5802 §6, over TLS), PLAIN
 * (only over TLS), EXTERNAL with a client certificate (XEP-0178) and, when
 * [c2s] digest_md5 is on, the historic DIGEST-MD5 (RFC 2831, RFC 6331).  The
 * credentials live in the core; auth asks for them over the link and never
 * sees a stored password. */
#ifndef STARLING_CM_AUTH_H
#define STARLING_CM_AUTH_H

#include "lib/digest_md5.h"
#include "lib/scram.h"
#include "lib/stanza.h"
#include "lib/wire.h"

/* RFC 6120 §6.4: the SASL namespace (SASL2's failures carry its conditions). */
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"

struct worker;
struct conn;

/* Indexes auth.c's mechanism table, in the order they are advertised. */
enum auth_mech {
	AUTH_SCRAM_SHA256_PLUS,
	AUTH_SCRAM_SHA1_PLUS,
	AUTH_SCRAM_SHA256,
	AUTH_SCRAM_SHA1,
	AUTH_PLAIN,
	AUTH_DIGEST_MD5,
	AUTH_EXTERNAL,
	AUTH_MECHS
};

/* Per-connection SASL state; allocated on <auth/>, freed when SASL ends. */
struct auth_state {
	enum auth_mech mech;
	/* 0 = awaiting credentials, 1 = awaiting <response/>; DIGEST-MD5: 3 =
	 * awaiting the digest-response, 4 = awaiting the empty one after rspauth */
	int step;
	char *username;		 /* the account: nodeprepped localpart @ the stream's domain */
	char *password;		 /* PLAIN only, wiped and freed after the check */
	struct scram_server scram;
	char nonce[DIGEST_MD5_HEX_LEN + 1]; /* DIGEST-MD5: the one our challenge sent */
	struct digest_md5_resp digest;	    /* DIGEST-MD5: the client's digest-response */
	int bind2;	/* SASL2 asked for Bind 2 (XEP-0386): bind before <success/> */
	char *bind_tag; /* its <tag/>, or NULL */
	xmlNodePtr sm_enable; /* XEP-0198 <enable/> inside it (owned), or NULL */
	int inactive;	      /* XEP-0352 <inactive/> inside it */
	int carbons;	      /* XEP-0280 <enable/> inside it */
};

enum auth_result {
	AUTH_CONTINUE, /* waiting for the client or the core */
	AUTH_SUCCESS,  /* <success/> sent: restart the stream */
	AUTH_SUCCESS_INLINE, /* SASL2's <success/> and features sent: no restart */
	AUTH_FAILED,   /* <failure/> sent; the client may try again */
};

/* Appends the <mechanisms/> feature for this connection, after XEP-0440's
 * <sasl-channel-binding/> when it can bind. */
void auth_features(struct worker *w, struct conn *c);
/* Handle <auth/>, <response/> or <abort/> in the SASL namespace, or
 * <authenticate/>, <response/> or <abort/> in SASL2's (XEP-0388; the
 * caller sets CONN_SASL2 for the attempt's answers). */
enum auth_result auth_on_element(struct worker *w, struct conn *c, const struct stanza *s);
/* The core answered our credential request. */
enum auth_result auth_on_cred(struct worker *w, struct conn *c, const struct wire_frame *f);
void auth_free(struct conn *c);
/* A <failure/> in the attempt's profile, without counting it (throttling). */
void auth_send_failure(struct worker *w, struct conn *c, const char *cond, const char *text);
/* The link to the core is gone with c's credential request: the client is
 * told to try again (RFC 6120 §6.5.12). */
void auth_link_lost(struct worker *w, struct conn *c);
/* The SASL name of a mechanism ("SCRAM-SHA-256"), for metrics. */
const char *auth_mech_name(enum auth_mech m);

#endif
