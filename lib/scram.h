/* scram: SCRAM (RFC 5802) with SHA-1 and SHA-256 (RFC 7677), the key
 * derivation used for stored credentials, and the server and client sides of
 * the exchange without any I/O.  Also base64, which SASL in XMPP needs. */
#ifndef STARLING_SCRAM_H
#define STARLING_SCRAM_H
#include <stddef.h>
#include <stdint.h>

enum scram_hash { SCRAM_SHA1 = 1, SCRAM_SHA256 = 2 }; /* == enum wire_hash */

#define SCRAM_MAX_HASH 32
#define SCRAM_SALT_LEN 16
#define SCRAM_DEFAULT_ITER 4096
#define SCRAM_MAX_MSG 4096 /* longest SCRAM message we parse (either side) */

size_t scram_hash_len(enum scram_hash h); /* 20 or 32 */
const char *scram_mech_name(enum scram_hash h); /* "SCRAM-SHA-1" / "SCRAM-SHA-256" */

/* What the store keeps for one hash: never the password. */
struct scram_creds {
	enum scram_hash hash;
	uint8_t salt[64];
	size_t salt_len;
	uint32_t iter;
	uint8_t stored_key[SCRAM_MAX_HASH];
	uint8_t server_key[SCRAM_MAX_HASH];
};

/* Derive stored and server keys from a password (after SASLprep) with the
 * given salt and iteration count. Returns 0 or -EINVAL (also for a password
 * that fails SASLprep or is empty after it) / -ENOMEM. */
int scram_derive(enum scram_hash h, const char *password, const uint8_t *salt, size_t salt_len,
		 uint32_t iter, struct scram_creds *out);
/* Same with a fresh random salt (RAND_bytes). */
int scram_make_creds(enum scram_hash h, const char *password, uint32_t iter,
		     struct scram_creds *out);
/* Constant-time check of a plaintext password against stored creds (used by
 * SASL PLAIN): derives the keys with the stored salt and compares. 1 = match,
 * 0 = no match (also when the password fails SASLprep), negative errno on error. */
int scram_check_password(const struct scram_creds *c, const char *password);
/* Creds for an unknown user: salt and keys derived from a per-process random
 * secret and the username, so repeated attempts see the same salt, and cheap
 * (no PBKDF2), so timing does not tell unknown users apart.  No proof matches
 * them.  Returns 0 or -EINVAL/-ENOMEM. */
int scram_fake_creds(enum scram_hash h, const char *username, uint32_t iter,
		     struct scram_creds *out);

/* Server side of one SCRAM exchange.  Messages are the decoded SASL payloads
 * (not base64).  Ownership: the struct owns its strings; scram_server_free(). */
struct scram_server {
	enum scram_hash hash;
	char *username;		/* from client-first, after '=2C'/'=3D' decoding */
	char *client_first_bare;
	char *server_first;
	char *nonce;		/* client nonce + server nonce */
	char *gs2_header;
	char *authzid;		/* a= of the gs2 header, decoded; NULL when absent.  Not
				 * checked here: in XMPP it is a JID, so the caller
				 * must accept only the user's own bare JID (RFC 6120 §6.3.8) */
	char *cb_name;		/* p= of the gs2 header (a -PLUS exchange), else NULL */
	uint8_t *cb_data;	/* the connection's binding data, set by the caller */
	size_t cb_len;
	char *ssdp;		/* XEP-0474 h= value (base64), NULL when not sent */
	struct scram_creds creds;
	int have_creds;
};

/* How channel binding (RFC 5802 §6) stands for one exchange: the caller
 * knows the transport, lib/ does not. */
enum scram_cb_mode {
	SCRAM_CB_NONE,	  /* no -PLUS offered: 'y' and 'n' are fine, 'p=' is refused */
	SCRAM_CB_OFFERED, /* -PLUS offered but this is the plain mechanism: 'y' is a downgrade */
	SCRAM_CB_PLUS,	  /* a -PLUS mechanism: the gs2 flag must be 'p=' */
};

/* Parse client-first-message.  s needs no initialisation; call
 * scram_server_free() afterwards whatever the result.  Returns 0, or -EINVAL
 * (malformed-request), or -ENOTSUP (channel binding requested: 'p=' gs2 flag). */
int scram_server_start(struct scram_server *s, enum scram_hash h, const char *msg, size_t len);
/* The same with channel binding: returns 0, -EINVAL (malformed), -ENOTSUP
 * (the gs2 flag does not fit the mechanism: 'p=' without -PLUS, 'n' or 'y'
 * with it) or -EPERM ('y' while -PLUS is offered: someone stripped it,
 * RFC 5802 §6).  After 0, s->cb_name is the binding type a -PLUS client asked
 * for; the caller checks it is one the connection has and gives its data with
 * scram_server_set_cbind() before scram_server_final(). */
int scram_server_start_cb(struct scram_server *s, enum scram_hash h, enum scram_cb_mode m,
			  const char *msg, size_t len);
/* Copy the channel-binding data the client must have bound.  0 or -ENOMEM/-EINVAL. */
int scram_server_set_cbind(struct scram_server *s, const uint8_t *data, size_t len);
/* XEP-0474 (v0.5.0) §4: make the server-first-message carry h=, the hash of the
 * advertised mechanisms and (cbs non-NULL: XEP-0440 was sent) channel-binding
 * types.  Before scram_server_first().  0 or -ENOMEM/-EINVAL. */
int scram_server_set_ssdp(struct scram_server *s, const char *const *mechs, size_t nmechs,
			  const char *const *cbs, size_t ncbs);
/* That hash, base64 (malloc'd into *out), for either side.  0 or -ENOMEM/-EINVAL. */
int scram_ssdp_hash(enum scram_hash h, const char *const *mechs, size_t nmechs,
		    const char *const *cbs, size_t ncbs, char **out);
/* Give the user's creds (or fake ones for an unknown user so the exchange
 * fails only at the proof, revealing nothing) and get the server-first-message
 * (malloc'd, NUL-terminated, caller frees via scram_server_free()). */
int scram_server_first(struct scram_server *s, const struct scram_creds *c, const char **out);
/* For tests only: the same with a fixed server nonce (printable, no ','),
 * to reproduce the RFC examples. */
int scram_server_first_with_nonce(struct scram_server *s, const struct scram_creds *c,
				  const char *server_nonce, const char **out);
/* Check client-final-message. Returns 0 with *server_final set (malloc'd,
 * caller frees), -EPERM on a bad proof or a c=/r= that does not match this
 * exchange (not-authorized), -EINVAL malformed (also when called out of order
 * or a second time). */
int scram_server_final(struct scram_server *s, const char *msg, size_t len, char **server_final);
void scram_server_free(struct scram_server *s);

/* Client side (for tests and starling-bench). */
struct scram_client {
	enum scram_hash hash;
	char *password;
	char *gs2_header;
	uint8_t *cb_data; /* bound into c= after the gs2 header */
	size_t cb_len;
	char *client_first_bare;
	char *nonce;
	uint8_t server_signature[SCRAM_MAX_HASH];
	int have_signature; /* set by scram_client_final() */
};
/* Returns malloc'd client-first-message ("n,,n=user,r=nonce"). */
char *scram_client_first(struct scram_client *c, enum scram_hash h, const char *user,
			 const char *password, const char *nonce /* NULL = random */);
/* The same with gs2 flag ("n", "y" or "p=<type>") and, for 'p=', the channel
 * binding data to send in c= (tests send wrong data on purpose). */
char *scram_client_first_cb(struct scram_client *c, enum scram_hash h, const char *user,
			    const char *password, const char *nonce, const char *flag,
			    const uint8_t *cb, size_t cb_len);
/* Returns malloc'd client-final-message, NULL on a bad server-first. */
char *scram_client_final(struct scram_client *c, const char *server_first, size_t len);
/* 0 when the server's v= matches; -EPERM for a wrong v= or an e= error,
 * -EINVAL when malformed. */
int scram_client_verify(struct scram_client *c, const char *server_final, size_t len);
void scram_client_free(struct scram_client *c);

/* base64 (RFC 4648, with padding). Return malloc'd NUL-terminated strings /
 * byte arrays; decode returns NULL on invalid input, *out_len set. */
char *base64_encode(const uint8_t *in, size_t len);
uint8_t *base64_decode(const char *in, size_t len, size_t *out_len);

#endif
