/* digest_md5: the server side of SASL DIGEST-MD5 (RFC 2831), historic since
 * RFC 6331 and offered only when an operator turns it on ([c2s] digest_md5).
 * Only qop=auth (authentication, no security layer) and md5-sess.  The
 * server never needs the password: H(username:realm:password), the "urp"
 * hash, is what the store keeps (RFC 2831 §2.1.2.1). */
#ifndef STARLING_DIGEST_MD5_H
#define STARLING_DIGEST_MD5_H
#include <stddef.h>
#include <stdint.h>

#define DIGEST_MD5_URP_LEN 16
#define DIGEST_MD5_HEX_LEN 32	  /* response-value, rspauth, our nonce */
#define DIGEST_MD5_MAX_MSG 4096	  /* RFC 2831 §2.1.2: a digest-response is shorter */
#define DIGEST_MD5_CHALLENGE_MAX 1200

/* The directives of a digest-response this server reads (§2.1.2). */
enum digest_md5_field {
	DM_USERNAME,
	DM_REALM,
	DM_NONCE,
	DM_CNONCE,
	DM_NC,
	DM_QOP,
	DM_DIGEST_URI,
	DM_RESPONSE,
	DM_CHARSET,
	DM_AUTHZID,
	DM_FIELDS
};

struct digest_md5_resp {
	const char *v[DM_FIELDS]; /* unquoted values, NULL when absent; point into buf */
	char *buf;		  /* owned; freed by digest_md5_resp_free */
};

/* H(username ":" realm ":" password) into out.  RFC 2831 §2.1.2.1: with
 * charset=utf-8 (which we always send), strings all representable in ISO
 * 8859-1 are hashed in 8859-1.  0, -EINVAL (not UTF-8) or -ENOMEM. */
int digest_md5_urp(const char *user, const char *realm, const char *password,
		   uint8_t out[DIGEST_MD5_URP_LEN]);

/* §2.1.1: the challenge for realm with a fresh random nonce, written to out
 * (NUL-terminated, cap >= DIGEST_MD5_CHALLENGE_MAX) and nonce (33 bytes).
 * 0, -EINVAL (realm too long or holds '"' or '\\') or -ENOMEM (no randomness). */
int digest_md5_challenge(const char *realm, char *nonce, char *out, size_t cap);

/* Parses msg[0..len) (§2.1.2, §7.1: #rule list, token or quoted-string
 * values with backslash escapes).  A known directive twice, a NUL, a
 * missing required directive or len > DIGEST_MD5_MAX_MSG is -EINVAL;
 * unknown directives are ignored.  -ENOMEM.  On success r owns a buffer. */
int digest_md5_parse(const char *msg, size_t len, struct digest_md5_resp *r);
void digest_md5_resp_free(struct digest_md5_resp *r);

/* Whether the response answers our challenge: realm, nonce, nc=00000001,
 * qop auth, charset utf-8 when given, digest-uri.  0 or -EPERM. */
int digest_md5_check(const struct digest_md5_resp *r, const char *realm, const char *nonce,
		     const char *digest_uri);

/* §2.1.2.1 response-value (server 0, A2 "AUTHENTICATE:" digest-uri) or
 * §2.1.3 rspauth (server 1, A2 ":" digest-uri), in lowercase hex with NUL. */
int digest_md5_response(const uint8_t urp[DIGEST_MD5_URP_LEN], const struct digest_md5_resp *r,
			int server, char out[DIGEST_MD5_HEX_LEN + 1]);
/* 1 when r's response equals the one urp gives, in constant time; 0 if not. */
int digest_md5_verify(const uint8_t urp[DIGEST_MD5_URP_LEN], const struct digest_md5_resp *r);

#endif
