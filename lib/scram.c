#include "scram.h"
#include "randpool.h"
#include "utf8.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stringprep.h>

#define SERVER_NONCE_BYTES 24 /* 32 base64 characters, no padding */
#define CLIENT_NONCE_BYTES 18
#define CLIENT_MAX_ITER 1000000 /* the client refuses a server asking for more work */

/* A comma-separated field of a SCRAM message (not NUL-terminated). */
struct field {
	const char *p;
	size_t len;
};

size_t scram_hash_len(enum scram_hash h)
{
	switch (h) {
	case SCRAM_SHA1: return 20;
	case SCRAM_SHA256: return 32;
	}
	return 0;
}

const char *scram_mech_name(enum scram_hash h)
{
	switch (h) {
	case SCRAM_SHA1: return "SCRAM-SHA-1";
	case SCRAM_SHA256: return "SCRAM-SHA-256";
	}
	return NULL;
}

static const EVP_MD *hash_md(enum scram_hash h)
{
	return h == SCRAM_SHA1 ? EVP_sha1() : EVP_sha256();
}

/* OpenSSL failures are reported as -ENOMEM: allocation is their only plausible cause here. */
static int hmac(enum scram_hash h, const uint8_t *key, size_t klen, const void *d, size_t dlen,
		uint8_t *out)
{
	unsigned int n = 0;
	if (!HMAC(hash_md(h), key, (int)klen, d, dlen, out, &n) || n != scram_hash_len(h))
		return -ENOMEM;
	return 0;
}

static int digest(enum scram_hash h, const uint8_t *d, size_t dlen, uint8_t *out)
{
	unsigned int n = 0;
	if (!EVP_Digest(d, dlen, out, &n, hash_md(h), NULL) || n != scram_hash_len(h))
		return -ENOMEM;
	return 0;
}

/* RFC 5802 §2.2 Normalize(): SASLprep (RFC 4013), as a query string so a
 * password set before a Unicode update still works.  *out is malloc'd. */
static int saslprep(const char *in, char **out)
{
	*out = NULL;
	size_t n = strlen(in);
	if (n > SCRAM_MAX_MSG || !utf8_valid(in, n))
		return -EINVAL;
	int rc = stringprep_profile(in, out, "SASLprep", 0);
	if (rc == STRINGPREP_MALLOC_ERROR)
		return -ENOMEM;
	if (rc != STRINGPREP_OK || !**out) {
		free(*out);
		*out = NULL;
		return -EINVAL;
	}
	return 0;
}

/* RFC 5802 §3: SaltedPassword = Hi(Normalize(password), salt, i); ClientKey =
 * HMAC(SaltedPassword, "Client Key"); StoredKey = H(ClientKey); ServerKey =
 * HMAC(SaltedPassword, "Server Key"). */
static int derive_keys(enum scram_hash h, const char *password, const uint8_t *salt,
		       size_t salt_len, uint32_t iter, uint8_t *client_key, uint8_t *stored_key,
		       uint8_t *server_key)
{
	size_t hl = scram_hash_len(h);
	uint8_t salted[SCRAM_MAX_HASH];
	char *norm;
	if (!hl || !password || !salt || !salt_len || salt_len > INT_MAX || !iter || iter > INT_MAX)
		return -EINVAL;
	int rc = saslprep(password, &norm);
	if (rc)
		return rc;
	if (!PKCS5_PBKDF2_HMAC(norm, (int)strlen(norm), salt, (int)salt_len, (int)iter, hash_md(h),
			       (int)hl, salted))
		rc = -ENOMEM;
	OPENSSL_cleanse(norm, strlen(norm));
	free(norm);
	if (!rc)
		rc = hmac(h, salted, hl, "Client Key", 10, client_key);
	if (!rc)
		rc = digest(h, client_key, hl, stored_key);
	if (!rc)
		rc = hmac(h, salted, hl, "Server Key", 10, server_key);
	OPENSSL_cleanse(salted, sizeof salted);
	return rc;
}

int scram_derive(enum scram_hash h, const char *password, const uint8_t *salt, size_t salt_len,
		 uint32_t iter, struct scram_creds *out)
{
	uint8_t client_key[SCRAM_MAX_HASH];
	memset(out, 0, sizeof *out);
	if (salt_len > sizeof out->salt)
		return -EINVAL;
	int rc = derive_keys(h, password, salt, salt_len, iter, client_key, out->stored_key,
			     out->server_key);
	OPENSSL_cleanse(client_key, sizeof client_key);
	if (rc) {
		OPENSSL_cleanse(out, sizeof *out);
		return rc;
	}
	out->hash = h;
	memcpy(out->salt, salt, salt_len);
	out->salt_len = salt_len;
	out->iter = iter;
	return 0;
}

int scram_make_creds(enum scram_hash h, const char *password, uint32_t iter,
		     struct scram_creds *out)
{
	uint8_t salt[SCRAM_SALT_LEN];
	if (RAND_bytes(salt, sizeof salt) != 1)
		return -ENOMEM;
	return scram_derive(h, password, salt, sizeof salt, iter, out);
}

int scram_check_password(const struct scram_creds *c, const char *password)
{
	struct scram_creds d;
	size_t hl = scram_hash_len(c->hash);
	if (!hl || c->salt_len > sizeof c->salt)
		return -EINVAL;
	int rc = scram_derive(c->hash, password, c->salt, c->salt_len, c->iter, &d);
	if (rc == -EINVAL)
		return 0; /* fails SASLprep (or empty): cannot be the password */
	if (rc)
		return rc;
	int match = CRYPTO_memcmp(d.stored_key, c->stored_key, hl) == 0;
	OPENSSL_cleanse(&d, sizeof d);
	return match;
}

/* ---- fake credentials for unknown users (RFC 5802 §9: do not reveal
 * whether an account exists) ---- */

static uint8_t fake_secret[32];
static int fake_ready;
static CRYPTO_ONCE fake_once = CRYPTO_ONCE_STATIC_INIT;

static void fake_init(void)
{
	fake_ready = RAND_bytes(fake_secret, sizeof fake_secret) == 1;
}

/* HMAC-SHA256(HMAC-SHA256(secret, label), username): a distinct label per
 * output keeps the salt and the keys unrelated. */
static int fake_part(const char *label, enum scram_hash h, const char *username, uint8_t *out,
		     size_t n)
{
	uint8_t k[32], v[32];
	char l[16];
	int ll = snprintf(l, sizeof l, "%s%d", label, (int)h);
	int rc = hmac(SCRAM_SHA256, fake_secret, sizeof fake_secret, l, (size_t)ll, k);
	if (!rc)
		rc = hmac(SCRAM_SHA256, k, sizeof k, username, strlen(username), v);
	if (!rc)
		memcpy(out, v, n);
	OPENSSL_cleanse(k, sizeof k);
	return rc;
}

int scram_fake_creds(enum scram_hash h, const char *username, uint32_t iter,
		     struct scram_creds *out)
{
	size_t hl = scram_hash_len(h);
	memset(out, 0, sizeof *out);
	if (!hl || !username || !iter)
		return -EINVAL;
	if (!CRYPTO_THREAD_run_once(&fake_once, fake_init) || !fake_ready)
		return -ENOMEM;
	out->hash = h;
	out->iter = iter;
	out->salt_len = SCRAM_SALT_LEN;
	int rc = fake_part("salt", h, username, out->salt, SCRAM_SALT_LEN);
	if (!rc)
		rc = fake_part("stored", h, username, out->stored_key, hl);
	if (!rc)
		rc = fake_part("server", h, username, out->server_key, hl);
	return rc;
}

/* ---- base64 (RFC 4648 §4) ---- */

char *base64_encode(const uint8_t *in, size_t len)
{
	if (len > (size_t)INT_MAX / 4 * 3 - 3)
		return NULL;
	char *out = malloc(4 * ((len + 2) / 3) + 1);
	if (out)
		EVP_EncodeBlock((unsigned char *)out, in, (int)len); /* NUL-terminates */
	return out;
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* EVP_DecodeBlock skips whitespace and ignores padding in its count, so the
 * input is validated (strictly: no whitespace, padding only at the end, zero
 * pad bits per RFC 4648 §3.5) and the length computed here. */
static int b64_check(const char *in, size_t len, size_t *pad)
{
	*pad = 0;
	if (len % 4 || len > INT_MAX)
		return -EINVAL;
	if (len && in[len - 1] == '=')
		*pad = in[len - 2] == '=' ? 2 : 1;
	for (size_t i = 0; i < len - *pad; i++)
		if (b64_value(in[i]) < 0)
			return -EINVAL;
	if (*pad == 1 && (b64_value(in[len - 2]) & 3))
		return -EINVAL;
	if (*pad == 2 && (b64_value(in[len - 3]) & 15))
		return -EINVAL;
	return 0;
}

uint8_t *base64_decode(const char *in, size_t len, size_t *out_len)
{
	size_t pad;
	*out_len = 0;
	if (!in || b64_check(in, len, &pad))
		return NULL;
	uint8_t *out = malloc(len / 4 * 3 + 1);
	if (!out || !len)
		return out;
	int n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
	if (n < 0 || (size_t)n != len / 4 * 3) {
		free(out);
		return NULL;
	}
	*out_len = (size_t)n - pad;
	return out;
}

/* ---- message syntax (RFC 5802 §7) ---- */

/* Next field of [*pos, end); *pos becomes NULL after the last one. */
static int next_field(const char **pos, const char *end, struct field *f)
{
	if (!*pos)
		return 0;
	const char *c = memchr(*pos, ',', (size_t)(end - *pos));
	f->p = *pos;
	f->len = (size_t)((c ? c : end) - *pos);
	*pos = c ? c + 1 : NULL;
	return 1;
}

static int is_attr(struct field f, char a)
{
	return f.len >= 2 && f.p[0] == a && f.p[1] == '=';
}

static int field_eq(const char *p, size_t n, const char *s)
{
	return n == strlen(s) && !memcmp(p, s, n);
}

/* printable = %x21-2B / %x2D-7E: no ',' and nothing outside visible ASCII. */
static int nonce_valid(const char *p, size_t n)
{
	if (!n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x21 || p[i] > 0x7e || p[i] == ',')
			return 0;
	return 1;
}

/* extensions = attr-val *("," attr-val), attr-val = ALPHA "=" value.  The
 * attribute names RFC 5802 already defines are refused as extensions, so a
 * repeated r= or a misplaced p= is malformed rather than ignored. */
static int extension_valid(struct field f)
{
	if (f.len < 3 || f.p[1] != '=')
		return 0;
	char a = f.p[0];
	if (!((a >= 'a' && a <= 'z') || (a >= 'A' && a <= 'Z')))
		return 0;
	return !strchr("acenmprsiv", a);
}

static int extensions_valid(const char *pos, const char *end)
{
	struct field f;
	while (next_field(&pos, end, &f))
		if (!extension_valid(f))
			return 0;
	return 1;
}

/* saslname: ',' and '=' travel as "=2C" and "=3D"; any other '=' is invalid. */
static int saslname_decode(const char *p, size_t n, char **out)
{
	*out = NULL;
	if (!n)
		return -EINVAL;
	char *d = malloc(n + 1), *w = d;
	if (!d)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (p[i] != '=') {
			*w++ = p[i];
		} else if (n - i >= 3 && (p[i + 1] == '2' && p[i + 2] == 'C')) {
			*w++ = ',', i += 2;
		} else if (n - i >= 3 && (p[i + 1] == '3' && p[i + 2] == 'D')) {
			*w++ = '=', i += 2;
		} else {
			free(d);
			return -EINVAL;
		}
	}
	*w = 0;
	*out = d;
	return 0;
}

static int message_ok(const char *msg, size_t len)
{
	return msg && len && len <= SCRAM_MAX_MSG && !memchr(msg, 0, len) && utf8_valid(msg, len);
}

/* ---- server side ---- */

/* cb-name = 1*(ALPHA / DIGIT / "." / "-") (RFC 5802 §7). */
static int cb_name_valid(const char *p, size_t n)
{
	if (!n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
		      (p[i] >= '0' && p[i] <= '9') || p[i] == '.' || p[i] == '-'))
			return 0;
	return 1;
}

/* gs2-cbind-flag against the mechanism (RFC 5802 §6): a -PLUS exchange
 * needs 'p='; 'p=' on the plain mechanism names a binding it cannot carry;
 * 'y' says the client could bind but saw no -PLUS, so when we offered one
 * it was stripped on the way. */
static int check_flag(struct scram_server *s, enum scram_cb_mode m, struct field flag)
{
	if (is_attr(flag, 'p')) {
		if (m != SCRAM_CB_PLUS)
			return -ENOTSUP;
		if (!cb_name_valid(flag.p + 2, flag.len - 2))
			return -EINVAL;
		s->cb_name = strndup(flag.p + 2, flag.len - 2);
		return s->cb_name ? 0 : -ENOMEM;
	}
	if (flag.len != 1 || (flag.p[0] != 'n' && flag.p[0] != 'y'))
		return -EINVAL;
	if (m == SCRAM_CB_PLUS)
		return -ENOTSUP;
	return flag.p[0] == 'y' && m == SCRAM_CB_OFFERED ? -EPERM : 0;
}

/* gs2-header = gs2-cbind-flag "," [authzid] "," */
static int parse_gs2(struct scram_server *s, enum scram_cb_mode m, const char *msg,
		     const char **pos, const char *end)
{
	struct field flag, az;
	if (!next_field(pos, end, &flag))
		return -EINVAL;
	int rc = check_flag(s, m, flag);
	if (rc)
		return rc;
	if (!next_field(pos, end, &az) || !*pos)
		return -EINVAL;
	if (az.len) {
		if (!is_attr(az, 'a'))
			return -EINVAL;
		rc = saslname_decode(az.p + 2, az.len - 2, &s->authzid);
		if (rc)
			return rc;
	}
	s->gs2_header = strndup(msg, (size_t)(*pos - msg));
	return s->gs2_header ? 0 : -ENOMEM;
}

/* client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions] */
static int parse_first_bare(struct scram_server *s, const char *pos, const char *end)
{
	const char *bare = pos;
	struct field f;
	if (!next_field(&pos, end, &f) || !is_attr(f, 'n'))
		return -EINVAL; /* also m=: no mandatory extension is supported */
	int rc = saslname_decode(f.p + 2, f.len - 2, &s->username);
	if (rc)
		return rc;
	if (!next_field(&pos, end, &f) || !is_attr(f, 'r') || !nonce_valid(f.p + 2, f.len - 2))
		return -EINVAL;
	if (!extensions_valid(pos, end))
		return -EINVAL;
	s->nonce = strndup(f.p + 2, f.len - 2);
	s->client_first_bare = strndup(bare, (size_t)(end - bare));
	return s->nonce && s->client_first_bare ? 0 : -ENOMEM;
}

int scram_server_start_cb(struct scram_server *s, enum scram_hash h, enum scram_cb_mode m,
			  const char *msg, size_t len)
{
	memset(s, 0, sizeof *s);
	s->hash = h;
	if (!scram_hash_len(h) || !message_ok(msg, len))
		return -EINVAL;
	const char *pos = msg, *end = msg + len;
	int rc = parse_gs2(s, m, msg, &pos, end);
	if (!rc)
		rc = parse_first_bare(s, pos, end);
	if (rc) {
		scram_server_free(s);
		s->hash = h;
	}
	return rc;
}

int scram_server_start(struct scram_server *s, enum scram_hash h, const char *msg, size_t len)
{
	return scram_server_start_cb(s, h, SCRAM_CB_NONE, msg, len);
}

int scram_server_set_cbind(struct scram_server *s, const uint8_t *data, size_t len)
{
	if (!s->cb_name || s->cb_data || !len || len > SCRAM_MAX_MSG)
		return -EINVAL;
	s->cb_data = malloc(len); /* owned by s, freed by scram_server_free() */
	if (!s->cb_data)
		return -ENOMEM;
	memcpy(s->cb_data, data, len);
	s->cb_len = len;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	/* strcmp orders as unsigned char: RFC 4790 §9.3 "i;octet". */
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted copy of list joined by sep onto b (a buf of n bytes at *at). */
static int join_sorted(const char *const *list, size_t n, char sep, char **b, size_t *at)
{
	const char **v = malloc((n ? n : 1) * sizeof *v);
	if (!v)
		return -ENOMEM;
	memcpy(v, list, n * sizeof *v);
	qsort(v, n, sizeof *v, cmp_str);
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		size_t l = strlen(v[i]);
		char *g = realloc(*b, *at + l + 2);
		if (!g) {
			rc = -ENOMEM;
			break;
		}
		*b = g;
		if (i)
			(*b)[(*at)++] = sep;
		memcpy(*b + *at, v[i], l);
		*at += l;
	}
	free(v);
	return rc;
}

/* XEP-0474 (v0.5.0) §4.1: S = sorted mechanisms joined by %x1E, then, when
 * XEP-0440 was used, %x1F and the sorted channel-binding types joined by
 * %x1E; h = base64(H(S)) with the mechanism's hash. */
int scram_ssdp_hash(enum scram_hash h, const char *const *mechs, size_t nmechs,
		    const char *const *cbs, size_t ncbs, char **out)
{
	uint8_t d[SCRAM_MAX_HASH];
	char *b = NULL;
	size_t at = 0;
	*out = NULL;
	if (!scram_hash_len(h) || (!mechs && nmechs))
		return -EINVAL;
	int rc = join_sorted(mechs, nmechs, 0x1e, &b, &at);
	if (!rc && cbs) {
		char *g = realloc(b, at + 1);
		if (!g)
			rc = -ENOMEM;
		else
			(b = g)[at++] = 0x1f;
		if (!rc)
			rc = join_sorted(cbs, ncbs, 0x1e, &b, &at);
	}
	if (!rc)
		rc = digest(h, (const uint8_t *)(b ? b : ""), at, d);
	free(b);
	if (!rc && !(*out = base64_encode(d, scram_hash_len(h))))
		rc = -ENOMEM;
	return rc;
}

int scram_server_set_ssdp(struct scram_server *s, const char *const *mechs, size_t nmechs,
			  const char *const *cbs, size_t ncbs)
{
	if (s->server_first || s->ssdp)
		return -EINVAL;
	return scram_ssdp_hash(s->hash, mechs, nmechs, cbs, ncbs, &s->ssdp);
}

static int creds_valid(const struct scram_server *s, const struct scram_creds *c)
{
	return c && c->hash == s->hash && c->salt_len && c->salt_len <= sizeof c->salt && c->iter;
}

int scram_server_first_with_nonce(struct scram_server *s, const struct scram_creds *c,
				  const char *server_nonce, const char **out)
{
	char *salt, *nonce = NULL;
	*out = NULL;
	if (!s->client_first_bare || s->server_first || !creds_valid(s, c) || !server_nonce ||
	    !nonce_valid(server_nonce, strlen(server_nonce)))
		return -EINVAL;
	salt = base64_encode(c->salt, c->salt_len);
	if (salt && asprintf(&nonce, "%s%s", s->nonce, server_nonce) < 0)
		nonce = NULL; /* asprintf leaves it undefined on failure */
	/* XEP-0474 §4.1: h= is an optional attribute after i= (RFC 5802 §7). */
	if (nonce && asprintf(&s->server_first, "r=%s,s=%s,i=%u%s%s", nonce, salt, c->iter,
			      s->ssdp ? ",h=" : "", s->ssdp ? s->ssdp : "") < 0)
		s->server_first = NULL;
	free(salt);
	if (!s->server_first) {
		free(nonce);
		return -ENOMEM;
	}
	free(s->nonce);
	s->nonce = nonce;
	s->creds = *c;
	s->have_creds = 1;
	*out = s->server_first;
	return 0;
}

int scram_server_first(struct scram_server *s, const struct scram_creds *c, const char **out)
{
	uint8_t r[SERVER_NONCE_BYTES];
	*out = NULL;
	if (randpool_bytes(r, sizeof r))
		return -ENOMEM;
	char *nonce = base64_encode(r, sizeof r);
	if (!nonce)
		return -ENOMEM;
	int rc = scram_server_first_with_nonce(s, c, nonce, out);
	free(nonce);
	return rc;
}

/* base64(gs2-header || cbind-data), malloc'd. */
static char *cbind_input(const char *gs2, const uint8_t *data, size_t len)
{
	size_t gl = strlen(gs2);
	uint8_t *in = malloc(gl + len + 1);
	if (!in)
		return NULL;
	memcpy(in, gs2, gl);
	if (len)
		memcpy(in + gl, data, len);
	char *b = base64_encode(in, gl + len);
	free(in);
	return b;
}

/* client-final-message = channel-binding "," nonce ["," extensions] "," proof.
 * Sets *proof and *without_proof_len (the prefix before ",p="). */
static int parse_client_final(const struct scram_server *s, const char *msg, size_t len,
			      struct field *proof, size_t *without_proof_len)
{
	const char *pos = msg, *end = msg + len, *start;
	struct field f;
	if (s->cb_name && !s->cb_data)
		return -EINVAL; /* the caller never said what to bind to */
	char *cb = cbind_input(s->gs2_header, s->cb_data, s->cb_len);
	if (!cb)
		return -ENOMEM;
	int ok = next_field(&pos, end, &f) && is_attr(f, 'c');
	/* RFC 5802 §6, §7: c= is base64(gs2-header || cbind-data), the data
	 * empty without channel binding; a mismatch is a man in the middle. */
	int cb_match = ok && field_eq(f.p + 2, f.len - 2, cb);
	free(cb);
	if (!ok || !next_field(&pos, end, &f) || !is_attr(f, 'r'))
		return -EINVAL;
	int nonce_match = field_eq(f.p + 2, f.len - 2, s->nonce);
	do {
		start = pos;
		if (!next_field(&pos, end, &f))
			return -EINVAL;
	} while (!is_attr(f, 'p') && extension_valid(f));
	if (!is_attr(f, 'p') || pos) /* the proof comes last */
		return -EINVAL;
	*proof = (struct field){f.p + 2, f.len - 2};
	*without_proof_len = (size_t)(start - 1 - msg);
	return cb_match && nonce_match ? 0 : -EPERM;
}

/* AuthMessage = client-first-message-bare "," server-first-message ","
 * client-final-message-without-proof (RFC 5802 §3).  malloc'd. */
static char *auth_message(const char *bare, const char *server_first, const char *final,
			  size_t final_len)
{
	char *m = NULL;
	if (asprintf(&m, "%s,%s,%.*s", bare, server_first, (int)final_len, final) < 0)
		return NULL;
	return m;
}

/* The server's check: H(ClientProof XOR HMAC(StoredKey, AuthMessage)) == StoredKey. */
static int verify_proof(const struct scram_creds *c, const char *am, const uint8_t *proof)
{
	size_t hl = scram_hash_len(c->hash);
	uint8_t sig[SCRAM_MAX_HASH], key[SCRAM_MAX_HASH], stored[SCRAM_MAX_HASH];
	int rc = hmac(c->hash, c->stored_key, hl, am, strlen(am), sig);
	if (!rc) {
		for (size_t i = 0; i < hl; i++)
			key[i] = proof[i] ^ sig[i];
		rc = digest(c->hash, key, hl, stored);
	}
	if (!rc && CRYPTO_memcmp(stored, c->stored_key, hl))
		rc = -EPERM;
	OPENSSL_cleanse(key, sizeof key);
	return rc;
}

static int server_signature(const struct scram_creds *c, const char *am, char **out)
{
	uint8_t sig[SCRAM_MAX_HASH];
	int rc = hmac(c->hash, c->server_key, scram_hash_len(c->hash), am, strlen(am), sig);
	if (rc)
		return rc;
	char *b = base64_encode(sig, scram_hash_len(c->hash));
	if (!b || asprintf(out, "v=%s", b) < 0) {
		*out = NULL;
		rc = -ENOMEM;
	}
	free(b);
	return rc;
}

int scram_server_final(struct scram_server *s, const char *msg, size_t len, char **server_final)
{
	struct field pf;
	size_t wlen, plen;
	*server_final = NULL;
	if (!s->have_creds || !s->server_first || !message_ok(msg, len))
		return -EINVAL;
	s->have_creds = 0; /* one attempt per exchange */
	int rc = parse_client_final(s, msg, len, &pf, &wlen);
	if (rc)
		return rc;
	uint8_t *proof = base64_decode(pf.p, pf.len, &plen);
	if (!proof || plen != scram_hash_len(s->hash)) {
		free(proof);
		return -EINVAL;
	}
	char *am = auth_message(s->client_first_bare, s->server_first, msg, wlen);
	rc = am ? verify_proof(&s->creds, am, proof) : -ENOMEM;
	if (!rc)
		rc = server_signature(&s->creds, am, server_final);
	free(am);
	free(proof);
	return rc;
}

void scram_server_free(struct scram_server *s)
{
	free(s->username);
	free(s->client_first_bare);
	free(s->server_first);
	free(s->nonce);
	free(s->gs2_header);
	free(s->authzid);
	free(s->cb_name);
	free(s->cb_data);
	free(s->ssdp);
	OPENSSL_cleanse(s, sizeof *s);
}

/* ---- client side ---- */

/* saslname encoding of the username: ',' -> "=2C", '=' -> "=3D". malloc'd. */
static char *saslname_encode(const char *u)
{
	char *e = malloc(strlen(u) * 3 + 1), *w = e;
	if (!e)
		return NULL;
	for (; *u; u++) {
		if (*u == ',')
			w = memcpy(w, "=2C", 3), w += 3;
		else if (*u == '=')
			w = memcpy(w, "=3D", 3), w += 3;
		else
			*w++ = *u;
	}
	*w = 0;
	return e;
}

static char *client_nonce(const char *given)
{
	uint8_t r[CLIENT_NONCE_BYTES];
	if (given)
		return nonce_valid(given, strlen(given)) ? strdup(given) : NULL;
	if (randpool_bytes(r, sizeof r))
		return NULL;
	return base64_encode(r, sizeof r);
}

/* The gs2 header for flag (and the binding data it promises).  0 or -errno. */
static int client_gs2(struct scram_client *c, const char *flag, const uint8_t *cb, size_t cb_len)
{
	int p = flag && !strncmp(flag, "p=", 2);
	if (!flag || (!p && strcmp(flag, "n") && strcmp(flag, "y")) ||
	    (p && !cb_name_valid(flag + 2, strlen(flag + 2))) || cb_len > SCRAM_MAX_MSG / 2)
		return -EINVAL;
	if (asprintf(&c->gs2_header, "%s,,", flag) < 0) {
		c->gs2_header = NULL;
		return -ENOMEM;
	}
	if (!cb_len)
		return 0;
	c->cb_data = malloc(cb_len); /* owned by c */
	if (!c->cb_data)
		return -ENOMEM;
	memcpy(c->cb_data, cb, cb_len);
	c->cb_len = cb_len;
	return 0;
}

char *scram_client_first_cb(struct scram_client *c, enum scram_hash h, const char *user,
			    const char *password, const char *nonce, const char *flag,
			    const uint8_t *cb, size_t cb_len)
{
	char *name = NULL, *msg = NULL;
	memset(c, 0, sizeof *c);
	c->hash = h;
	if (!scram_hash_len(h) || !user || !*user || !password || strlen(user) > SCRAM_MAX_MSG / 4 ||
	    client_gs2(c, flag, cb, cb_len)) {
		scram_client_free(c);
		return NULL;
	}
	c->password = strdup(password);
	c->nonce = client_nonce(nonce);
	name = saslname_encode(user);
	if (!c->password || !c->nonce || !name ||
	    asprintf(&c->client_first_bare, "n=%s,r=%s", name, c->nonce) < 0)
		c->client_first_bare = NULL;
	else if (asprintf(&msg, "%s%s", c->gs2_header, c->client_first_bare) < 0)
		msg = NULL;
	free(name);
	if (!msg)
		scram_client_free(c);
	return msg;
}

char *scram_client_first(struct scram_client *c, enum scram_hash h, const char *user,
			 const char *password, const char *nonce)
{
	return scram_client_first_cb(c, h, user, password, nonce, "n", NULL, 0);
}

static int parse_iter(struct field f, uint32_t *iter)
{
	uint32_t v = 0;
	if (f.len < 3 || f.len > 9 || f.p[2] == '0')
		return -EINVAL;
	for (size_t i = 2; i < f.len; i++) {
		if (f.p[i] < '0' || f.p[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint32_t)(f.p[i] - '0');
	}
	if (v > CLIENT_MAX_ITER)
		return -EINVAL;
	*iter = v;
	return 0;
}

/* server-first-message = [reserved-mext ","] nonce "," salt "," iteration-count ["," ext];
 * a reserved-mext (m=) fails the r= test: we support no mandatory extension. */
static int parse_server_first(const struct scram_client *c, const char *msg, size_t len,
			      struct field *nonce, uint8_t **salt, size_t *salt_len, uint32_t *iter)
{
	const char *pos = msg, *end = msg + len;
	struct field f;
	size_t cn = strlen(c->nonce);
	*salt = NULL;
	if (!next_field(&pos, end, nonce) || !is_attr(*nonce, 'r'))
		return -EINVAL;
	*nonce = (struct field){nonce->p + 2, nonce->len - 2};
	/* The server must extend our nonce, not replace it. */
	if (!nonce_valid(nonce->p, nonce->len) || nonce->len <= cn ||
	    memcmp(nonce->p, c->nonce, cn))
		return -EINVAL;
	if (!next_field(&pos, end, &f) || !is_attr(f, 's'))
		return -EINVAL;
	*salt = base64_decode(f.p + 2, f.len - 2, salt_len);
	if (!*salt || !*salt_len || !next_field(&pos, end, &f) || !is_attr(f, 'i') ||
	    parse_iter(f, iter) || !extensions_valid(pos, end)) {
		free(*salt);
		*salt = NULL;
		return -EINVAL;
	}
	return 0;
}

/* Builds "c=<gs2+cbind>,r=<nonce>,p=<proof>" and keeps the expected server signature. */
static char *client_proof(struct scram_client *c, const char *server_first, struct field nonce,
			  const uint8_t *ck, const uint8_t *sk, const uint8_t *svk)
{
	size_t hl = scram_hash_len(c->hash);
	uint8_t sig[SCRAM_MAX_HASH], proof[SCRAM_MAX_HASH];
	char *wp = NULL, *am = NULL, *p64 = NULL, *out = NULL;
	char *cb = cbind_input(c->gs2_header, c->cb_data, c->cb_len);
	if (!cb || asprintf(&wp, "c=%s,r=%.*s", cb, (int)nonce.len, nonce.p) < 0) {
		free(cb);
		return NULL;
	}
	free(cb);
	am = auth_message(c->client_first_bare, server_first, wp, strlen(wp));
	if (am && !hmac(c->hash, sk, hl, am, strlen(am), sig) &&
	    !hmac(c->hash, svk, hl, am, strlen(am), c->server_signature)) {
		for (size_t i = 0; i < hl; i++)
			proof[i] = ck[i] ^ sig[i];
		p64 = base64_encode(proof, hl);
		if (p64 && asprintf(&out, "%s,p=%s", wp, p64) < 0)
			out = NULL;
	}
	c->have_signature = out != NULL;
	free(wp);
	free(am);
	free(p64);
	return out;
}

/* RFC 5802 §5.1: a client MAY cache ClientKey and ServerKey, since a server
 * is likely to offer the same salt again.  One entry per thread: enough for
 * a load generator whose accounts share one password (and, when provisioned
 * in bulk, one salt), which then spends its CPU on the server, not on
 * PBKDF2.  Keyed by a digest of the password so the password is not kept. */
static __thread struct {
	int valid;
	enum scram_hash hash;
	uint32_t iter;
	size_t salt_len;
	uint8_t salt[64], pw[SCRAM_MAX_HASH];
	uint8_t ck[SCRAM_MAX_HASH], sk[SCRAM_MAX_HASH], svk[SCRAM_MAX_HASH];
} client_cache;

static int client_keys(enum scram_hash h, const char *password, const uint8_t *salt,
		       size_t salt_len, uint32_t iter, uint8_t *ck, uint8_t *sk, uint8_t *svk)
{
	size_t hl = scram_hash_len(h);
	uint8_t pw[SCRAM_MAX_HASH] = { 0 };
	if (!hl || !password || digest(SCRAM_SHA256, (const uint8_t *)password, strlen(password), pw))
		return -EINVAL;
	if (client_cache.valid && client_cache.hash == h && client_cache.iter == iter &&
	    client_cache.salt_len == salt_len && !memcmp(client_cache.salt, salt, salt_len) &&
	    !CRYPTO_memcmp(client_cache.pw, pw, sizeof pw)) {
		memcpy(ck, client_cache.ck, hl);
		memcpy(sk, client_cache.sk, hl);
		memcpy(svk, client_cache.svk, hl);
		return 0;
	}
	int rc = derive_keys(h, password, salt, salt_len, iter, ck, sk, svk);
	if (rc || salt_len > sizeof client_cache.salt)
		return rc;
	client_cache.valid = 1;
	client_cache.hash = h;
	client_cache.iter = iter;
	client_cache.salt_len = salt_len;
	memcpy(client_cache.salt, salt, salt_len);
	memcpy(client_cache.pw, pw, sizeof pw);
	memcpy(client_cache.ck, ck, hl);
	memcpy(client_cache.sk, sk, hl);
	memcpy(client_cache.svk, svk, hl);
	return 0;
}

char *scram_client_final(struct scram_client *c, const char *server_first, size_t len)
{
	uint8_t ck[SCRAM_MAX_HASH], sk[SCRAM_MAX_HASH], svk[SCRAM_MAX_HASH], *salt;
	struct field nonce;
	size_t salt_len;
	uint32_t iter;
	char *out = NULL, *sf;
	if (!c->client_first_bare || c->have_signature || !message_ok(server_first, len))
		return NULL;
	sf = strndup(server_first, len);
	if (!sf)
		return NULL;
	if (!parse_server_first(c, sf, len, &nonce, &salt, &salt_len, &iter)) {
		if (!client_keys(c->hash, c->password, salt, salt_len, iter, ck, sk, svk))
			out = client_proof(c, sf, nonce, ck, sk, svk);
		free(salt);
	}
	OPENSSL_cleanse(ck, sizeof ck);
	free(sf);
	return out;
}

int scram_client_verify(struct scram_client *c, const char *server_final, size_t len)
{
	size_t hl = scram_hash_len(c->hash), n;
	if (!c->have_signature || !message_ok(server_final, len))
		return -EINVAL;
	if (len >= 2 && !memcmp(server_final, "e=", 2))
		return -EPERM;
	if (len < 2 || memcmp(server_final, "v=", 2) || memchr(server_final, ',', len))
		return -EINVAL;
	uint8_t *v = base64_decode(server_final + 2, len - 2, &n);
	int rc = v && n == hl ? 0 : -EINVAL;
	if (!rc && CRYPTO_memcmp(v, c->server_signature, hl))
		rc = -EPERM;
	free(v);
	return rc;
}

void scram_client_free(struct scram_client *c)
{
	if (c->password)
		OPENSSL_cleanse(c->password, strlen(c->password));
	free(c->password);
	free(c->gs2_header);
	free(c->cb_data);
	free(c->client_first_bare);
	free(c->nonce);
	OPENSSL_cleanse(c, sizeof *c);
}
