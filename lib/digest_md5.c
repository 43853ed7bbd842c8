#include "digest_md5.h"
#include "utf8.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

/* Directive names, indexed by enum digest_md5_field. */
static const char *const field_names[DM_FIELDS] = {
	[DM_USERNAME] = "username", [DM_REALM] = "realm",	  [DM_NONCE] = "nonce",
	[DM_CNONCE] = "cnonce",	    [DM_NC] = "nc",		  [DM_QOP] = "qop",
	[DM_DIGEST_URI] = "digest-uri", [DM_RESPONSE] = "response", [DM_CHARSET] = "charset",
	[DM_AUTHZID] = "authzid",
};

/* §2.1.2: "This directive is required and MUST be present exactly once". */
static const enum digest_md5_field required[] = {DM_USERNAME, DM_NONCE, DM_CNONCE, DM_NC,
						 DM_DIGEST_URI, DM_RESPONSE};

struct part {
	const void *p;
	size_t len;
};

/* MD5 over the concatenated parts.  OpenSSL failures are -ENOMEM. */
static int md5_parts(const struct part *parts, size_t n, uint8_t out[16])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int olen = 0;
	int ok = ctx && EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
	for (size_t i = 0; ok && i < n; i++)
		ok = EVP_DigestUpdate(ctx, parts[i].p, parts[i].len);
	ok = ok && EVP_DigestFinal_ex(ctx, out, &olen) && olen == 16;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -ENOMEM;
}

static void hex(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = 0;
}

/* The ISO 8859-1 form of UTF-8 s into out (cap >= strlen(s) + 1), or -ERANGE
 * when s holds a character above U+00FF. */
static int to_latin1(const char *s, char *out)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0;
	while (*p) {
		if (*p < 0x80) {
			out[n++] = (char)*p++;
		} else if ((*p == 0xc2 || *p == 0xc3) && (p[1] & 0xc0) == 0x80) {
			out[n++] = (char)(((p[0] & 0x03) << 6) | (p[1] & 0x3f));
			p += 2;
		} else {
			return -ERANGE;
		}
	}
	out[n] = 0;
	return 0;
}

int digest_md5_urp(const char *user, const char *realm, const char *password,
		   uint8_t out[DIGEST_MD5_URP_LEN])
{
	const char *in[3] = {user, realm, password};
	for (int i = 0; i < 3; i++)
		if (!utf8_valid(in[i], strlen(in[i])))
			return -EINVAL;
	size_t total = strlen(user) + strlen(realm) + strlen(password) + 3;
	char *buf = malloc(total); /* the three Latin-1 forms, wiped and freed here */
	if (!buf)
		return -ENOMEM;
	const char *conv[3];
	int latin = 1;
	size_t off = 0;
	for (int i = 0; i < 3; i++) {
		conv[i] = buf + off;
		if (to_latin1(in[i], buf + off))
			latin = 0;
		off += strlen(in[i]) + 1;
	}
	const char *const *use = latin ? conv : in;
	struct part parts[5] = {{use[0], 0}, {":", 1}, {use[1], 0}, {":", 1}, {use[2], 0}};
	for (int i = 0; i < 5; i += 2)
		parts[i].len = strlen(parts[i].p);
	int rc = md5_parts(parts, 5, out);
	OPENSSL_cleanse(buf, total);
	free(buf);
	return rc;
}

int digest_md5_challenge(const char *realm, char *nonce, char *out, size_t cap)
{
	uint8_t r[DIGEST_MD5_HEX_LEN / 2];
	if (strlen(realm) > 512 || strpbrk(realm, "\"\\") || cap < DIGEST_MD5_CHALLENGE_MAX)
		return -EINVAL;
	if (RAND_bytes(r, sizeof r) != 1)
		return -ENOMEM;
	hex(r, sizeof r, nonce);
	/* §2.1.1: one realm (the stream's domain), qop auth only, and md5-sess,
	 * which the directive must name. */
	snprintf(out, cap, "realm=\"%s\",nonce=\"%s\",qop=\"auth\",charset=utf-8,algorithm=md5-sess",
		 realm, nonce);
	return 0;
}

static int is_lws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* RFC 2616 §2.2 token characters, which RFC 2831 §7.1 borrows. */
static int is_tokenc(char c)
{
	unsigned char u = (unsigned char)c;
	return u > 32 && u < 127 && !strchr("()<>@,;:\\\"/[]?={}", c);
}

/* One value at *pp, token or quoted-string, unescaped into *out (advanced
 * past its NUL).  -EINVAL for an empty token or an unclosed string. */
static int parse_value(const char **pp, const char *end, char **out)
{
	const char *p = *pp;
	char *o = *out;
	if (p < end && *p == '"') {
		for (p++; p < end && *p != '"'; p++) {
			if (*p == '\\' && ++p == end)
				break; /* §7.1 quoted-pair: the next octet stands for itself */
			*o++ = *p;
		}
		if (p >= end)
			return -EINVAL;
		p++;
	} else {
		const char *start = p;
		while (p < end && is_tokenc(*p))
			*o++ = *p++;
		if (p == start)
			return -EINVAL;
	}
	*o++ = 0;
	*pp = p;
	*out = o;
	return 0;
}

static int field_index(const char *name, size_t len)
{
	for (int i = 0; i < DM_FIELDS; i++)
		if (strlen(field_names[i]) == len && !strncasecmp(name, field_names[i], len))
			return i;
	return -1;
}

/* One directive at *pp: name LWS "=" LWS value.  Known ones land in r. */
static int parse_directive(const char **pp, const char *end, char **out,
			   struct digest_md5_resp *r)
{
	const char *p = *pp, *name = p;
	while (p < end && is_tokenc(*p))
		p++;
	size_t nlen = (size_t)(p - name);
	while (p < end && is_lws(*p))
		p++;
	if (!nlen || p == end || *p != '=')
		return -EINVAL;
	for (p++; p < end && is_lws(*p); p++)
		;
	char *val = *out;
	if (parse_value(&p, end, out))
		return -EINVAL;
	int i = field_index(name, nlen);
	if (i >= 0) {
		if (r->v[i])
			return -EINVAL; /* §2.1.2: each at most once */
		r->v[i] = val;
	}
	*pp = p;
	return 0;
}

int digest_md5_parse(const char *msg, size_t len, struct digest_md5_resp *r)
{
	memset(r, 0, sizeof *r);
	if (len > DIGEST_MD5_MAX_MSG || memchr(msg, 0, len))
		return -EINVAL;
	r->buf = malloc(len + 1); /* unescaped values are never longer than msg */
	if (!r->buf)
		return -ENOMEM;
	const char *p = msg, *end = msg + len;
	char *out = r->buf;
	int rc = 0;
	while (!rc && p < end) {
		/* §7.1 #rule: elements separated by commas; empty ones allowed. */
		if (is_lws(*p) || *p == ',') {
			p++;
			continue;
		}
		rc = parse_directive(&p, end, &out, r);
		while (!rc && p < end && is_lws(*p))
			p++;
		if (!rc && p < end && *p != ',')
			rc = -EINVAL;
	}
	for (size_t i = 0; !rc && i < sizeof required / sizeof required[0]; i++)
		if (!r->v[required[i]])
			rc = -EINVAL;
	if (rc)
		digest_md5_resp_free(r);
	return rc;
}

void digest_md5_resp_free(struct digest_md5_resp *r)
{
	free(r->buf);
	memset(r, 0, sizeof *r);
}

int digest_md5_check(const struct digest_md5_resp *r, const char *realm, const char *nonce,
		     const char *digest_uri)
{
	const char *const *v = r->v;
	/* §2.1.2: realm absent means "", which is not the one we offered. */
	if (!v[DM_REALM] || strcmp(v[DM_REALM], realm))
		return -EPERM;
	if (strcmp(v[DM_NONCE], nonce))
		return -EPERM; /* not our challenge: a replay */
	/* §2.1.2: one authentication per nonce, so the first request. */
	if (strcmp(v[DM_NC], "00000001"))
		return -EPERM;
	if (v[DM_QOP] && strcmp(v[DM_QOP], "auth"))
		return -EPERM; /* we offered no security layer */
	if (v[DM_CHARSET] && strcasecmp(v[DM_CHARSET], "utf-8"))
		return -EPERM;
	/* §2.1.2 digest-uri: the server SHOULD check serv-type and host; RFC
	 * 3920 §6.3 names the service "xmpp"; the host is our domain. */
	if (strcasecmp(v[DM_DIGEST_URI], digest_uri))
		return -EPERM;
	if (strlen(v[DM_RESPONSE]) != DIGEST_MD5_HEX_LEN)
		return -EPERM;
	return 0;
}

int digest_md5_response(const uint8_t urp[DIGEST_MD5_URP_LEN], const struct digest_md5_resp *r,
			int server, char out[DIGEST_MD5_HEX_LEN + 1])
{
	const char *const *v = r->v;
	const char *authz = v[DM_AUTHZID] && *v[DM_AUTHZID] ? v[DM_AUTHZID] : NULL;
	const char *a2pre = server ? ":" : "AUTHENTICATE:";
	char ha1[33], ha2[33];
	uint8_t d[16];
	/* §2.1.2.1: A1 = { H(urp), ":", nonce, ":", cnonce [, ":", authzid] }. */
	struct part a1[] = {{urp, DIGEST_MD5_URP_LEN}, {":", 1}, {v[DM_NONCE], strlen(v[DM_NONCE])},
			    {":", 1}, {v[DM_CNONCE], strlen(v[DM_CNONCE])}, {":", 1},
			    {authz, authz ? strlen(authz) : 0}};
	if (md5_parts(a1, authz ? 7 : 5, d))
		return -ENOMEM;
	hex(d, 16, ha1);
	/* A2 = { "AUTHENTICATE:", digest-uri } (§2.1.3: without the word). */
	struct part a2[] = {{a2pre, strlen(a2pre)}, {v[DM_DIGEST_URI], strlen(v[DM_DIGEST_URI])}};
	if (md5_parts(a2, 2, d))
		return -ENOMEM;
	hex(d, 16, ha2);
	/* KD(HEX(H(A1)), nonce ":" nc ":" cnonce ":" qop ":" HEX(H(A2))). */
	struct part kd[] = {{ha1, 32},	      {":", 1}, {v[DM_NONCE], strlen(v[DM_NONCE])},
			    {":", 1},	      {v[DM_NC], strlen(v[DM_NC])},
			    {":", 1},	      {v[DM_CNONCE], strlen(v[DM_CNONCE])},
			    {":", 1},	      {"auth", 4},
			    {":", 1},	      {ha2, 32}};
	if (md5_parts(kd, sizeof kd / sizeof kd[0], d))
		return -ENOMEM;
	hex(d, 16, out);
	OPENSSL_cleanse(ha1, sizeof ha1);
	return 0;
}

int digest_md5_verify(const uint8_t urp[DIGEST_MD5_URP_LEN], const struct digest_md5_resp *r)
{
	char want[DIGEST_MD5_HEX_LEN + 1];
	if (strlen(r->v[DM_RESPONSE]) != DIGEST_MD5_HEX_LEN || digest_md5_response(urp, r, 0, want))
		return 0;
	return !CRYPTO_memcmp(want, r->v[DM_RESPONSE], DIGEST_MD5_HEX_LEN);
}
