/* c2s: the client-to-server stream (RFC 6120): header, features, STARTTLS,
 * SASL hand-off, resource binding, stanza ingress and egress, stream errors.
 * It does no I/O of its own: bytes come from the worker, replies go through
 * conn_send(), requests to the core through the uplink. */
#ifndef STARLING_CM_C2S_H
#define STARLING_CM_C2S_H
#include <stddef.h>

#include "lib/wire.h"

struct worker;
struct conn;

/* RFC 6120 §4.9.3 stream error conditions (the element names). */
enum c2s_stream_error {
	SE_BAD_FORMAT,
	SE_CONFLICT,
	SE_CONNECTION_TIMEOUT,
	SE_HOST_UNKNOWN,
	SE_INTERNAL_SERVER_ERROR,
	SE_INVALID_NAMESPACE,
	SE_NOT_AUTHORIZED,
	SE_NOT_WELL_FORMED,
	SE_POLICY_VIOLATION,
	SE_RESOURCE_CONSTRAINT,
	SE_RESTRICTED_XML,
	SE_SYSTEM_SHUTDOWN,
	SE_UNSUPPORTED_STANZA_TYPE,
	SE_UNSUPPORTED_VERSION,
	SE_UNDEFINED_CONDITION,
	SE_COUNT
};

void c2s_on_accept(struct worker *w, struct conn *c, int direct_tls);
/* Bytes as received from the socket (ciphertext once TLS is on). */
void c2s_on_data(struct worker *w, struct conn *c, const char *data, size_t len);
/* The peer closed or reset the connection. */
void c2s_on_eof(struct worker *w, struct conn *c);
/* Send <stream:error/> (with our header first if it is not out yet), close
 * the stream and the connection. */
void c2s_stream_error(struct worker *w, struct conn *c, enum c2s_stream_error e);
/* The condition's element name, e.g. "policy-violation". */
const char *c2s_stream_error_name(enum c2s_stream_error e);
/* The same with an application-specific condition element (RFC 6120 §4.9.4). */
void c2s_stream_error_app(struct worker *w, struct conn *c, enum c2s_stream_error e,
			  const char *app);
/* A bound client was silent for idle_timeout: ping it (XEP-0199 §4.1) and
 * give it ping_timeout to send anything. */
void c2s_ping(struct worker *w, struct conn *c);
/* The connection starts to close or dies: a session that cannot be
 * resumed ends now, so the core stops routing to it at once, and what the
 * client never acknowledged goes back.  Stanzas already on their way are
 * given back as they arrive (sm_give_back). */
void c2s_on_going(struct worker *w, struct conn *c);
/* The slot is released, or the close lingers: tell the core if it still
 * held a session.  Safe to call twice. */
void c2s_on_close(struct worker *w, struct conn *c);

/* Tells the core (a new one, after the link came back) about c's session:
 * SESSION_OPEN, then its last available presence if any. */
void c2s_announce(struct worker *w, struct conn *c);

/* From the core. */
void c2s_on_stanza(struct worker *w, struct conn *c, const struct wire_stanza *s);
void c2s_on_session_opened(struct worker *w, struct conn *c, int status);
/* cond: the KICK condition (wire_conditions index), else ignored. */
void c2s_on_session_close(struct worker *w, struct conn *c, int reason, int cond);
/* The hosted domain of c's stream, prepared (lives as long as the config). */
const char *c2s_domain(const struct worker *w, const struct conn *c);
/* The RFC 6120 §8.3.3 conditions of the stanza errors the cm itself sends
 * (the rest come from the core), for starling_cm_stanza_errors_total; the
 * last is "other". */
#define C2S_STANZA_ERRS 6
extern const char *const c2s_stanza_error_names[C2S_STANZA_ERRS];
unsigned c2s_stanza_error_index(const char *cond);
/* 2 * bytes random hex digits and a NUL into out. */
void c2s_random_hex(char *out, size_t bytes);
void c2s_on_cred(struct worker *w, struct conn *c, const struct wire_frame *f);
/* RFC 6120 §7: binds resource res to c (c->jid, the bare JID, becomes the
 * full one) and tells the core.  0, or -ENOMEM / -ENOBUFS with c unchanged. */
int c2s_bind(struct worker *w, struct conn *c, const char *res);
/* XEP-0280 enabled for c's session on the client's behalf (Bind 2 inline):
 * an <enable/> IQ to the core, whose answer c2s_on_stanza keeps from the
 * client.  0, or -ENOBUFS when the link cannot take it. */
int c2s_enable_carbons(struct worker *w, struct conn *c);
/* RFC 6120 §4.3.2: the features for c's state (before TLS, before SASL,
 * after SASL: bind unless Bind 2 bound it). */
void c2s_send_features(struct worker *w, struct conn *c);

#endif
