/* Tests for lib/scram: base64, key derivation, both sides of SCRAM against
 * the RFC 5802 §5 and RFC 7677 §3 examples, and hostile messages. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "lib/scram.h"

static int hex_eq(const uint8_t *b, size_t n, const char *hex)
{
	char s[2 * SCRAM_MAX_HASH + 1];
	for (size_t i = 0; i < n; i++)
		sprintf(s + 2 * i, "%02x", b[i]);
	s[2 * n] = 0;
	return !strcmp(s, hex);
}

static void test_names(void)
{
	CHECK(scram_hash_len(SCRAM_SHA1) == 20);
	CHECK(scram_hash_len(SCRAM_SHA256) == 32);
	CHECK(scram_hash_len((enum scram_hash)7) == 0);
	CHECK_STR(scram_mech_name(SCRAM_SHA1), "SCRAM-SHA-1");
	CHECK_STR(scram_mech_name(SCRAM_SHA256), "SCRAM-SHA-256");
	CHECK(scram_mech_name((enum scram_hash)0) == NULL);
}

/* RFC 4648 §10 test vectors, both ways. */
static void test_base64_vectors(void)
{
	static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	static const char *enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	for (size_t i = 0; i < sizeof plain / sizeof *plain; i++) {
		char *e = base64_encode((const uint8_t *)plain[i], strlen(plain[i]));
		CHECK_STR(e, enc[i]);
		free(e);
		size_t n = 99;
		uint8_t *d = base64_decode(enc[i], strlen(enc[i]), &n);
		CHECK(d != NULL && n == strlen(plain[i]) && !memcmp(d, plain[i], n));
		free(d);
	}
}

static void test_base64_invalid(void)
{
	static const char *bad[] = {
	    "Zg=",	/* length not a multiple of 4 */
	    "Z",  "Zm9", "====", "Z===", "=Zm9",
	    "Zm=v",	/* padding inside */
	    "Zg==Zg==", /* padding before the end */
	    "Zh==",	/* non-zero pad bits */
	    "Zm9=",	/* non-zero pad bits */
	    "Zm9v\n", " Zm9", "Zm 9", "Zm9\t", "Zm-_", /* whitespace, url alphabet */
	    "Zm9v====", "Zm\x80v",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		size_t n = 99;
		uint8_t *d = base64_decode(bad[i], strlen(bad[i]), &n);
		CHECK(d == NULL);
		if (d)
			fprintf(stderr, "  accepted \"%s\"\n", bad[i]);
		CHECK(n == 0);
		free(d);
	}
	size_t n;
	uint8_t *d = base64_decode("Zm9v\0Zm9v", 8, &n); /* embedded NUL */
	CHECK(d == NULL);
	free(d);
	d = base64_decode("Zm9vYmFy", 4, &n); /* len, not strlen, decides */
	CHECK(d && n == 3 && !memcmp(d, "foo", 3));
	free(d);
}

static void test_base64_roundtrip(void)
{
	uint8_t in[70];
	int ok = 1;
	for (size_t i = 0; i < sizeof in; i++)
		in[i] = (uint8_t)(i * 37 + 11);
	for (size_t len = 0; len <= sizeof in; len++) {
		char *e = base64_encode(in, len);
		size_t n = 0;
		uint8_t *d = e ? base64_decode(e, strlen(e), &n) : NULL;
		if (!e || strlen(e) != (len + 2) / 3 * 4 || !d || n != len || memcmp(d, in, len))
			ok = 0;
		free(e);
		free(d);
	}
	CHECK(ok);
}

/* RFC 5802 §5 salt and the intermediate keys published on the XMPP wiki
 * ("SASL and SCRAM-SHA-1(-PLUS) / SCRAM-SHA-256(-PLUS)"). */
static void test_derive_sha1(void)
{
	size_t sl;
	uint8_t *salt = base64_decode("QSXCR+Q6sek8bf92", 16, &sl);
	CHECK(salt && sl == 12 && hex_eq(salt, sl, "4125c247e43ab1e93c6dff76"));
	struct scram_creds c;
	CHECK(scram_derive(SCRAM_SHA1, "pencil", salt, sl, 4096, &c) == 0);
	CHECK(c.hash == SCRAM_SHA1 && c.iter == 4096 && c.salt_len == 12);
	CHECK(hex_eq(c.stored_key, 20, "e9d94660c39d65c38fbad91c358f14da0eef2bd6"));
	CHECK(hex_eq(c.server_key, 20, "0fe09258b3ac852ba502cc62ba903eaacdbf7d31"));
	CHECK(scram_check_password(&c, "pencil") == 1);
	CHECK(scram_check_password(&c, "Pencil") == 0);
	CHECK(scram_check_password(&c, "pencil ") == 0);
	CHECK(scram_check_password(&c, "") == 0);
	CHECK(scram_derive(SCRAM_SHA1, "pencil", salt, sl, 0, &c) == -EINVAL);
	CHECK(scram_derive(SCRAM_SHA1, "pencil", salt, 0, 4096, &c) == -EINVAL);
	CHECK(scram_derive((enum scram_hash)3, "pencil", salt, sl, 4096, &c) == -EINVAL);
	uint8_t big[65] = {0};
	CHECK(scram_derive(SCRAM_SHA1, "pencil", big, sizeof big, 1, &c) == -EINVAL);
	free(salt);
}

struct vector {
	enum scram_hash h;
	const char *cnonce, *snonce, *salt, *client_first, *server_first, *client_final,
	    *server_final;
};

static const struct vector rfc5802 = {
    SCRAM_SHA1,
    "fyko+d2lbbFgONRv9qkxdawL",
    "3rfcNHYJY1ZVvWVs7j",
    "QSXCR+Q6sek8bf92",
    "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
    "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
    "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
    "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
};

static const struct vector rfc7677 = {
    SCRAM_SHA256,
    "rOprNGfwEbeRWgbNEkqO",
    "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
    "W22ZaJ0SNY7soEsUEjb6gQ==",
    "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
    "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
};

static int vector_creds(const struct vector *v, struct scram_creds *c)
{
	size_t sl;
	uint8_t *salt = base64_decode(v->salt, strlen(v->salt), &sl);
	int rc = salt ? scram_derive(v->h, "pencil", salt, sl, 4096, c) : -EINVAL;
	free(salt);
	return rc;
}

static void test_vector_client(const struct vector *v)
{
	struct scram_client c;
	char *first = scram_client_first(&c, v->h, "user", "pencil", v->cnonce);
	CHECK_STR(first, v->client_first);
	char *final = scram_client_final(&c, v->server_first, strlen(v->server_first));
	CHECK_STR(final, v->client_final);
	CHECK(scram_client_verify(&c, v->server_final, strlen(v->server_final)) == 0);
	/* One changed character of the server signature must fail. */
	char *bad = strdup(v->server_final);
	bad[3] ^= 1;
	CHECK(scram_client_verify(&c, bad, strlen(bad)) == -EPERM);
	CHECK(scram_client_verify(&c, "e=invalid-proof", 15) == -EPERM);
	CHECK(scram_client_verify(&c, "v=", 2) == -EINVAL);
	CHECK(scram_client_verify(&c, "x=abcd", 6) == -EINVAL);
	free(bad);
	free(first);
	free(final);
	scram_client_free(&c);
}

static void test_vector_server(const struct vector *v)
{
	struct scram_creds cr;
	struct scram_server s;
	const char *sf = NULL;
	char *fin = NULL;
	CHECK(vector_creds(v, &cr) == 0);
	CHECK(scram_server_start(&s, v->h, v->client_first, strlen(v->client_first)) == 0);
	CHECK_STR(s.username, "user");
	CHECK_STR(s.gs2_header, "n,,");
	CHECK(s.authzid == NULL);
	CHECK(scram_server_first_with_nonce(&s, &cr, v->snonce, &sf) == 0);
	CHECK_STR(sf, v->server_first);
	CHECK(scram_server_final(&s, v->client_final, strlen(v->client_final), &fin) == 0);
	CHECK_STR(fin, v->server_final);
	free(fin);
	/* A second final on the same exchange is refused. */
	fin = NULL;
	CHECK(scram_server_final(&s, v->client_final, strlen(v->client_final), &fin) == -EINVAL);
	CHECK(fin == NULL);
	scram_server_free(&s);
}

/* Runs start + first (RFC nonce) + final on the RFC 5802 creds. */
static int server_run(const char *first, const char *final, char **out)
{
	struct scram_creds cr;
	struct scram_server s;
	const char *sf;
	*out = NULL;
	if (vector_creds(&rfc5802, &cr))
		return -1000;
	int rc = scram_server_start(&s, SCRAM_SHA1, first, strlen(first));
	if (!rc)
		rc = scram_server_first_with_nonce(&s, &cr, rfc5802.snonce, &sf);
	if (!rc)
		rc = scram_server_final(&s, final, strlen(final), out);
	scram_server_free(&s);
	return rc;
}

static void test_server_final_errors(void)
{
	const char *first = rfc5802.client_first;
	const char *n = "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j";
	const char *p = "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=";
	char m[512];
	char *out;
	struct {
		const char *fmt;
		int rc;
	} cases[] = {
	    {"c=biws,%s,%s", 0},
	    {"c=biws,%s,x=ext,%s", -EPERM},	 /* valid syntax, but the proof covers the ext */
	    {"c=eSws,%s,%s", -EPERM},		 /* tampered c= ("y,,") */
	    {"c=biws,%sX,%s", -EPERM},		 /* nonce mismatch */
	    {"c=biws,r=fyko+d2lbbFgONRv9qkxdawL,%.0s%s", -EPERM}, /* client nonce only */
	    {"c=biws,%s,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts", -EINVAL}, /* bad base64 */
	    {"c=biws,%s,p=djBYOHYzQnoyVDBDSkdiSlF5RjBYK0hJNFRzPQ==", -EINVAL}, /* wrong length */
	    {"c=biws,%s,p=AAAAAAAAAAAAAAAAAAAAAAAAAAA=", -EPERM},		 /* wrong proof */
	    {"c=biws,%s", -EINVAL},				 /* no proof */
	    {"c=biws,%s,%s,x=ext", -EINVAL},			 /* proof not last */
	    {"%s,c=biws,%s", -EINVAL},				 /* order */
	    {"c=biws,%s,%s,", -EINVAL},
	    {"c=biws,%s,r=x,%s", -EINVAL}, /* repeated attribute */
	    {"c=biws,%s,,%s", -EINVAL},
	    {"c=,%s,%s", -EPERM},
	    {"biws,%s,%s", -EINVAL},
	    {"%.0s%s", -EINVAL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		snprintf(m, sizeof m, cases[i].fmt, n, p);
		int rc = server_run(first, m, &out);
		CHECK(rc == cases[i].rc);
		if (rc != cases[i].rc)
			fprintf(stderr, "  case %zu \"%s\": %d\n", i, m, rc);
		CHECK((rc == 0) == (out != NULL));
		free(out);
	}
	CHECK(server_run(first, "", &out) == -EINVAL);
	/* Embedded NUL in an otherwise correct message. */
	struct scram_creds cr;
	struct scram_server s;
	const char *sf;
	CHECK(vector_creds(&rfc5802, &cr) == 0);
	CHECK(scram_server_start(&s, SCRAM_SHA1, first, strlen(first)) == 0);
	CHECK(scram_server_first_with_nonce(&s, &cr, rfc5802.snonce, &sf) == 0);
	snprintf(m, sizeof m, "c=biws,%s,%s", n, p);
	size_t ml = strlen(m);
	m[ml] = 0, m[ml + 1] = 0;
	CHECK(scram_server_final(&s, m, ml + 1, &out) == -EINVAL);
	scram_server_free(&s);
}

static void test_server_first_errors(void)
{
	struct {
		const char *msg;
		int rc;
	} cases[] = {
	    {"n,,n=user,r=abc", 0},
	    {"y,,n=user,r=abc", 0},
	    {"n,,n=user,r=abc,x=future", 0},
	    {"p=tls-unique,,n=user,r=abc", -ENOTSUP},
	    {"p=tls-exporter,a=bob,n=user,r=abc", -ENOTSUP},
	    {"", -EINVAL},
	    {"n", -EINVAL},
	    {"n,", -EINVAL},
	    {"n,,", -EINVAL},
	    {"x,,n=user,r=abc", -EINVAL},
	    {"nn,,n=user,r=abc", -EINVAL},
	    {"n,x,n=user,r=abc", -EINVAL},
	    {"n,a=,n=user,r=abc", -EINVAL},
	    {"n,a=bob", -EINVAL},
	    {"n,,n=,r=abc", -EINVAL},
	    {"n,,n=us=er,r=abc", -EINVAL},
	    {"n,,n=us=2c,r=abc", -EINVAL}, /* escapes are upper case */
	    {"n,,n=us=2,r=abc", -EINVAL},
	    {"n,,n=user=", -EINVAL},
	    {"n,,r=abc,n=user", -EINVAL},
	    {"n,,n=user", -EINVAL},
	    {"n,,n=user,r=", -EINVAL},
	    {"n,,n=user,r=a b", -EINVAL},
	    {"n,,n=user,r=a\x7f", -EINVAL},
	    {"n,,n=user,r=\xc3\xa9", -EINVAL},
	    {"n,,m=ext,n=user,r=abc", -EINVAL},
	    {"n,,n=user,r=abc,", -EINVAL},
	    {"n,,n=user,r=abc,x", -EINVAL},
	    {"n,,n=user,r=abc,x=", -EINVAL},
	    {"n,,n=user,r=abc,r=def", -EINVAL},
	    {"n,,n=user,r=abc,p=def", -EINVAL},
	    {"n,,n=user,r=abc,1=def", -EINVAL},
	    {"n,,n=\xff,r=abc", -EINVAL},	   /* not UTF-8 */
	    {"n,,n=\xc0\xaf,r=abc", -EINVAL}, /* overlong */
	    {"n,,n=\xed\xa0\x80,r=abc", -EINVAL}, /* surrogate */
	    {"n,,n=\xc5\x98,r=abc", 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct scram_server s;
		int rc = scram_server_start(&s, SCRAM_SHA256, cases[i].msg, strlen(cases[i].msg));
		CHECK(rc == cases[i].rc);
		if (rc != cases[i].rc)
			fprintf(stderr, "  case %zu \"%s\": %d\n", i, cases[i].msg, rc);
		CHECK(rc != 0 || (s.username && s.nonce && s.client_first_bare && s.gs2_header));
		scram_server_free(&s);
	}
	struct scram_server s;
	CHECK(scram_server_start(&s, SCRAM_SHA1, "n,,n=a\0b,r=abc", 14) == -EINVAL);
	scram_server_free(&s);
	CHECK(scram_server_start(&s, (enum scram_hash)9, "n,,n=u,r=a", 10) == -EINVAL);
	scram_server_free(&s);
	/* Over the size limit. */
	size_t big = SCRAM_MAX_MSG + 1;
	char *m = malloc(big + 1);
	memcpy(m, "n,,n=user,r=", 12);
	memset(m + 12, 'a', big - 12);
	m[big] = 0;
	CHECK(scram_server_start(&s, SCRAM_SHA1, m, big) == -EINVAL);
	scram_server_free(&s);
	CHECK(scram_server_start(&s, SCRAM_SHA1, m, big - 1) == 0);
	scram_server_free(&s);
	free(m);
}

static void test_server_fields(void)
{
	struct scram_server s;
	const char *m = "y,a=juliet@example.com,n=a=2Cb=3Dc,r=xyz,z=ext";
	CHECK(scram_server_start(&s, SCRAM_SHA1, m, strlen(m)) == 0);
	CHECK_STR(s.username, "a,b=c");
	CHECK_STR(s.authzid, "juliet@example.com");
	CHECK_STR(s.gs2_header, "y,a=juliet@example.com,");
	CHECK_STR(s.client_first_bare, "n=a=2Cb=3Dc,r=xyz,z=ext");
	CHECK_STR(s.nonce, "xyz");
	/* Out of order: final before first. */
	char *out = NULL;
	CHECK(scram_server_final(&s, "c=biws,r=xyz,p=AAAA", 19, &out) == -EINVAL);
	/* Creds of the other hash, bad salt or iteration count, bad nonce. */
	struct scram_creds cr;
	const char *sf = NULL;
	CHECK(scram_make_creds(SCRAM_SHA256, "pw", 1, &cr) == 0);
	CHECK(scram_server_first(&s, &cr, &sf) == -EINVAL && sf == NULL);
	CHECK(scram_make_creds(SCRAM_SHA1, "pw", 1, &cr) == 0);
	cr.iter = 0;
	CHECK(scram_server_first(&s, &cr, &sf) == -EINVAL);
	cr.iter = 1;
	cr.salt_len = 0;
	CHECK(scram_server_first(&s, &cr, &sf) == -EINVAL);
	cr.salt_len = SCRAM_SALT_LEN;
	CHECK(scram_server_first_with_nonce(&s, &cr, "a,b", &sf) == -EINVAL);
	CHECK(scram_server_first_with_nonce(&s, &cr, "", &sf) == -EINVAL);
	CHECK(scram_server_first(&s, &cr, &sf) == 0);
	/* xyz + 32 base64 characters of 24 random bytes. */
	CHECK(sf && !strncmp(sf, "r=xyz", 5) && strlen(s.nonce) == 3 + 32);
	CHECK(scram_server_first(&s, &cr, &sf) == -EINVAL); /* only once */
	scram_server_free(&s);
}

/* A whole exchange through both sides with random nonces and salt. */
static int exchange(enum scram_hash h, const char *user, const char *stored_pw,
		    const char *client_pw, int fake)
{
	struct scram_creds cr;
	struct scram_client c;
	struct scram_server s;
	const char *sf = NULL;
	char *fin = NULL, *cfin = NULL;
	int rc = fake ? scram_fake_creds(h, user, 4096, &cr)
		      : scram_make_creds(h, stored_pw, 16, &cr);
	char *cf = scram_client_first(&c, h, user, client_pw, NULL);
	if (rc || !cf)
		return -1000;
	rc = scram_server_start(&s, h, cf, strlen(cf));
	if (!rc && strcmp(s.username, user))
		rc = -1001;
	if (!rc && !fake)
		cr.iter = 16; /* cheap */
	if (!rc)
		rc = scram_server_first(&s, &cr, &sf);
	if (!rc && fake)
		CHECK(strstr(sf, ",i=4096") != NULL);
	if (!rc)
		cfin = scram_client_final(&c, sf, strlen(sf));
	if (!rc && !cfin)
		rc = -1002;
	if (!rc)
		rc = scram_server_final(&s, cfin, strlen(cfin), &fin);
	if (!rc && scram_client_verify(&c, fin, strlen(fin)))
		rc = -1003;
	free(cf);
	free(cfin);
	free(fin);
	scram_client_free(&c);
	scram_server_free(&s);
	return rc;
}

static void test_exchanges(void)
{
	CHECK(exchange(SCRAM_SHA1, "romeo", "secret", "secret", 0) == 0);
	CHECK(exchange(SCRAM_SHA256, "romeo", "secret", "secret", 0) == 0);
	CHECK(exchange(SCRAM_SHA256, "a,b=c", "secret", "secret", 0) == 0);
	CHECK(exchange(SCRAM_SHA256, "\xc5\x98" "ad", "p\xc3\xa4ss", "p\xc3\xa4ss", 0) == 0);
	CHECK(exchange(SCRAM_SHA1, "romeo", "secret", "secreT", 0) == -EPERM);
	CHECK(exchange(SCRAM_SHA256, "romeo", "secret", "wrong", 0) == -EPERM);
	/* Unknown users get through to the proof and fail there. */
	CHECK(exchange(SCRAM_SHA1, "nobody", NULL, "secret", 1) == -EPERM);
	CHECK(exchange(SCRAM_SHA256, "nobody", NULL, "", 1) == -1002); /* client refuses "" */
	CHECK(exchange(SCRAM_SHA256, "nobody", NULL, "x", 1) == -EPERM);
}

static void test_fake_creds(void)
{
	struct scram_creds a, b, c, d;
	CHECK(scram_fake_creds(SCRAM_SHA256, "ghost", 4096, &a) == 0);
	CHECK(scram_fake_creds(SCRAM_SHA256, "ghost", 4096, &b) == 0);
	CHECK(scram_fake_creds(SCRAM_SHA256, "ghost2", 4096, &c) == 0);
	CHECK(scram_fake_creds(SCRAM_SHA1, "ghost", 4096, &d) == 0);
	CHECK(a.hash == SCRAM_SHA256 && a.iter == 4096 && a.salt_len == SCRAM_SALT_LEN);
	CHECK(!memcmp(&a, &b, sizeof a)); /* stable per user: no tell-tale changing salt */
	CHECK(memcmp(a.salt, c.salt, SCRAM_SALT_LEN) != 0);
	CHECK(memcmp(a.salt, d.salt, SCRAM_SALT_LEN) != 0);
	CHECK(memcmp(a.stored_key, a.server_key, 32) != 0);
	CHECK(scram_check_password(&a, "ghost") == 0);
	CHECK(scram_fake_creds(SCRAM_SHA1, NULL, 4096, &a) == -EINVAL);
	CHECK(scram_fake_creds(SCRAM_SHA1, "x", 0, &a) == -EINVAL);
	CHECK(scram_fake_creds((enum scram_hash)0, "x", 1, &a) == -EINVAL);
}

/* RFC 4013 §3 examples: the normalisation used for the password. */
static void test_saslprep(void)
{
	struct scram_creds ix, ix2, raw;
	const uint8_t salt[4] = {1, 2, 3, 4};
	CHECK(scram_derive(SCRAM_SHA256, "IX", salt, 4, 2, &ix) == 0);
	CHECK(scram_derive(SCRAM_SHA256, "I\xc2\xadX", salt, 4, 2, &ix2) == 0); /* soft hyphen */
	CHECK(!memcmp(ix.stored_key, ix2.stored_key, 32));
	CHECK(scram_check_password(&ix, "\xe2\x85\xa8") == 1); /* U+2168 ROMAN NUMERAL NINE */
	CHECK(scram_check_password(&ix, "ix") == 0);
	CHECK(scram_derive(SCRAM_SHA256, "a\xc2\xa0" "b", salt, 4, 2, &ix2) == 0); /* NBSP */
	CHECK(scram_derive(SCRAM_SHA256, "a b", salt, 4, 2, &raw) == 0);
	CHECK(!memcmp(ix2.stored_key, raw.stored_key, 32));
	CHECK(scram_derive(SCRAM_SHA256, "\x07", salt, 4, 2, &raw) == -EINVAL);
	CHECK(scram_derive(SCRAM_SHA256, "\xd8\xa7" "1", salt, 4, 2, &raw) == -EINVAL); /* bidi */
	CHECK(scram_derive(SCRAM_SHA256, "\xff", salt, 4, 2, &raw) == -EINVAL);
	CHECK(scram_derive(SCRAM_SHA256, "", salt, 4, 2, &raw) == -EINVAL);
	CHECK(scram_derive(SCRAM_SHA256, "\xc2\xad", salt, 4, 2, &raw) == -EINVAL); /* maps to "" */
	CHECK(scram_check_password(&ix, "\x07") == 0);
	CHECK(scram_make_creds(SCRAM_SHA1, "pw", 2, &ix) == 0);
	CHECK(scram_make_creds(SCRAM_SHA1, "pw", 2, &ix2) == 0);
	CHECK(memcmp(ix.salt, ix2.salt, SCRAM_SALT_LEN) != 0); /* fresh salt each time */
	CHECK(scram_check_password(&ix2, "pw") == 1);
}

static void test_client_errors(void)
{
	struct scram_client c;
	const char *bad[] = {
	    "r=fyko+d2lbbFgONRv9qkxdawL,s=QSXCR+Q6sek8bf92,i=4096",	 /* nonce not extended */
	    "r=other3rfc,s=QSXCR+Q6sek8bf92,i=4096",			 /* not our nonce */
	    "r=fyko+d2lbbFgONRv9qkxdawLX,s=,i=4096",			 /* empty salt */
	    "r=fyko+d2lbbFgONRv9qkxdawLX,s=QSXCR+Q6sek8bf9,i=4096",	 /* bad base64 */
	    "r=fyko+d2lbbFgONRv9qkxdawLX,s=QSXCR+Q6sek8bf92,i=0",	 /* no iterations */
	    "r=fyko+d2lbbFgONRv9qkxdawLX,s=QSXCR+Q6sek8bf92,i=04096",
	    "r=fyko+d2lbbFgONRv9qkxdawLX,s=QSXCR+Q6sek8bf92,i=99999999", /* too much work */
	    "r=fyko+d2lbbFgONRv9qkxdawLX,s=QSXCR+Q6sek8bf92,i=4o96",
	    "r=fyko+d2lbbFgONRv9qkxdawLX,s=QSXCR+Q6sek8bf92",
	    "m=x,r=fyko+d2lbbFgONRv9qkxdawLX,s=QSXCR+Q6sek8bf92,i=1",
	    "s=QSXCR+Q6sek8bf92,r=fyko+d2lbbFgONRv9qkxdawLX,i=1",
	    "r=fyko+d2lbbFgONRv9qkxdawLX,s=QSXCR+Q6sek8bf92,i=1,",
	    "",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char *f = scram_client_first(&c, SCRAM_SHA1, "user", "pencil", rfc5802.cnonce);
		char *fin = scram_client_final(&c, bad[i], strlen(bad[i]));
		CHECK(f && fin == NULL);
		if (fin)
			fprintf(stderr, "  accepted \"%s\"\n", bad[i]);
		/* No server signature to verify against. */
		CHECK(scram_client_verify(&c, "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=", 30) == -EINVAL);
		free(f);
		free(fin);
		scram_client_free(&c);
	}
	CHECK(scram_client_first(&c, SCRAM_SHA1, "", "pw", NULL) == NULL);
	scram_client_free(&c);
	CHECK(scram_client_first(&c, SCRAM_SHA1, "u", "pw", "a,b") == NULL);
	scram_client_free(&c);
	char *f = scram_client_first(&c, SCRAM_SHA256, "a,=b", "pw", "n1");
	CHECK_STR(f, "n,,n=a=2C=3Db,r=n1");
	free(f);
	scram_client_free(&c);
	f = scram_client_first(&c, SCRAM_SHA256, "u", "pw", NULL);
	CHECK(f && strlen(f) == strlen("n,,n=u,r=") + 24);
	free(f);
	scram_client_free(&c);
}

/* The client's key cache (RFC 5802 §5.1) must give the same proof on a hit,
 * and must not answer for another password with the same salt. */
static void test_client_cache(const struct vector *v)
{
	for (int round = 0; round < 2; round++) {
		struct scram_client c;
		char *first = scram_client_first(&c, v->h, "user", "pencil", v->cnonce);
		char *final = scram_client_final(&c, v->server_first, strlen(v->server_first));
		CHECK_STR(final, v->client_final);
		free(first);
		free(final);
		scram_client_free(&c);
		first = scram_client_first(&c, v->h, "user", "pencil2", v->cnonce);
		final = scram_client_final(&c, v->server_first, strlen(v->server_first));
		CHECK(final && strcmp(final, v->client_final));
		free(first);
		free(final);
		scram_client_free(&c);
	}
}

/* RFC 5802 §6: the gs2 flag against the mechanism and what was offered. */
static void test_gs2_flags(void)
{
	static const struct {
		enum scram_cb_mode mode;
		const char *msg;
		int rc;
		const char *cb_name;
	} cases[] = {
	    {SCRAM_CB_NONE, "n,,n=u,r=a", 0, NULL},
	    {SCRAM_CB_NONE, "y,,n=u,r=a", 0, NULL},	    /* we offered no -PLUS */
	    {SCRAM_CB_NONE, "p=tls-exporter,,n=u,r=a", -ENOTSUP, NULL},
	    {SCRAM_CB_OFFERED, "n,,n=u,r=a", 0, NULL},
	    {SCRAM_CB_OFFERED, "y,,n=u,r=a", -EPERM, NULL}, /* -PLUS was stripped */
	    {SCRAM_CB_OFFERED, "y,a=u@x,n=u,r=a", -EPERM, NULL},
	    {SCRAM_CB_OFFERED, "p=tls-exporter,,n=u,r=a", -ENOTSUP, NULL},
	    {SCRAM_CB_PLUS, "p=tls-exporter,,n=u,r=a", 0, "tls-exporter"},
	    {SCRAM_CB_PLUS, "p=tls-server-end-point,a=u@x,n=u,r=a", 0, "tls-server-end-point"},
	    {SCRAM_CB_PLUS, "p=Any.Name-1,,n=u,r=a", 0, "Any.Name-1"}, /* the caller judges it */
	    {SCRAM_CB_PLUS, "n,,n=u,r=a", -ENOTSUP, NULL},
	    {SCRAM_CB_PLUS, "y,,n=u,r=a", -ENOTSUP, NULL},
	    {SCRAM_CB_PLUS, "p=,,n=u,r=a", -EINVAL, NULL},
	    {SCRAM_CB_PLUS, "p=tls_unique,,n=u,r=a", -EINVAL, NULL}, /* '_' is not cb-name */
	    {SCRAM_CB_PLUS, "p=a b,,n=u,r=a", -EINVAL, NULL},
	    {SCRAM_CB_PLUS, "p=x=y,,n=u,r=a", -EINVAL, NULL},
	    {SCRAM_CB_PLUS, "p=tls-exporter", -EINVAL, NULL},
	    {SCRAM_CB_PLUS, "p=tls-exporter,", -EINVAL, NULL},
	    {SCRAM_CB_PLUS, "p=tls-exporter,,", -EINVAL, NULL},
	    {SCRAM_CB_PLUS, "P=tls-exporter,,n=u,r=a", -EINVAL, NULL},
	    {SCRAM_CB_PLUS, "pp,,n=u,r=a", -EINVAL, NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct scram_server s;
		int rc = scram_server_start_cb(&s, SCRAM_SHA256, cases[i].mode, cases[i].msg,
					       strlen(cases[i].msg));
		CHECK(rc == cases[i].rc);
		if (rc != cases[i].rc)
			fprintf(stderr, "  case %zu \"%s\": %d\n", i, cases[i].msg, rc);
		if (!rc && cases[i].cb_name)
			CHECK_STR(s.cb_name, cases[i].cb_name);
		else
			CHECK(s.cb_name == NULL);
		scram_server_free(&s);
	}
	/* Binding data only for a -PLUS exchange, once, not empty. */
	struct scram_server s;
	const char *m = "n,,n=u,r=a";
	CHECK(scram_server_start_cb(&s, SCRAM_SHA1, SCRAM_CB_OFFERED, m, strlen(m)) == 0);
	CHECK(scram_server_set_cbind(&s, (const uint8_t *)"x", 1) == -EINVAL);
	scram_server_free(&s);
	m = "p=tls-exporter,,n=u,r=a";
	CHECK(scram_server_start_cb(&s, SCRAM_SHA1, SCRAM_CB_PLUS, m, strlen(m)) == 0);
	CHECK(scram_server_set_cbind(&s, (const uint8_t *)"x", 0) == -EINVAL);
	CHECK(scram_server_set_cbind(&s, (const uint8_t *)"xy", 2) == 0);
	CHECK(scram_server_set_cbind(&s, (const uint8_t *)"xy", 2) == -EINVAL);
	scram_server_free(&s);
}

/* One exchange with channel binding: the client binds to cdata, the server
 * to sdata (NULL: the caller never gave any).  Returns scram_server_final's
 * result. */
static int cbind_exchange(enum scram_hash h, const char *flag, const char *cdata,
			  const char *sdata, enum scram_cb_mode mode)
{
	struct scram_client c;
	struct scram_server s;
	struct scram_creds cr;
	const char *sf;
	char *fin = NULL, *out = NULL;
	int rc = -1;
	char *first = scram_client_first_cb(&c, h, "user", "pencil", NULL, flag,
					    (const uint8_t *)cdata, cdata ? strlen(cdata) : 0);
	if (first && scram_server_start_cb(&s, h, mode, first, strlen(first)) == 0) {
		if (sdata)
			CHECK(scram_server_set_cbind(&s, (const uint8_t *)sdata, strlen(sdata)) == 0);
		CHECK(scram_make_creds(h, "pencil", 4096, &cr) == 0);
		CHECK(scram_server_first(&s, &cr, &sf) == 0);
		fin = scram_client_final(&c, sf, strlen(sf));
		rc = fin ? scram_server_final(&s, fin, strlen(fin), &out) : -100;
		if (!rc)
			CHECK(scram_client_verify(&c, out, strlen(out)) == 0);
	}
	scram_server_free(&s);
	free(first);
	free(fin);
	free(out);
	scram_client_free(&c);
	return rc;
}

static void test_cbind_exchanges(void)
{
	static const char data[] = "\x01\x02binding-data\xff";
	for (enum scram_hash h = SCRAM_SHA1; h <= SCRAM_SHA256; h++) {
		CHECK(cbind_exchange(h, "p=tls-exporter", data, data, SCRAM_CB_PLUS) == 0);
		/* RFC 5802 §6: other binding data (a man in the middle) fails. */
		CHECK(cbind_exchange(h, "p=tls-exporter", "\x01\x02binding-dat!\xff", data,
				     SCRAM_CB_PLUS) == -EPERM);
		CHECK(cbind_exchange(h, "p=tls-exporter", NULL, data, SCRAM_CB_PLUS) == -EPERM);
		/* The caller forgot the data: never a success. */
		CHECK(cbind_exchange(h, "p=tls-exporter", data, NULL, SCRAM_CB_PLUS) == -EINVAL);
		CHECK(cbind_exchange(h, "n", NULL, NULL, SCRAM_CB_OFFERED) == 0);
		CHECK(cbind_exchange(h, "y", NULL, NULL, SCRAM_CB_NONE) == 0);
		/* Data after an 'n' header is not what the server expects. */
		CHECK(cbind_exchange(h, "n", data, NULL, SCRAM_CB_OFFERED) == -EPERM);
	}
	struct scram_client c;
	char *f = scram_client_first_cb(&c, SCRAM_SHA256, "u", "pw", "n1", "p=tls-exporter", NULL, 0);
	CHECK_STR(f, "p=tls-exporter,,n=u,r=n1");
	free(f);
	scram_client_free(&c);
	static const char *bad_flags[] = {"x", "p=", "p=a,b", "", "pn", NULL};
	for (const char **b = bad_flags; *b; b++)
		CHECK(scram_client_first_cb(&c, SCRAM_SHA256, "u", "pw", NULL, *b, NULL, 0) == NULL);
	CHECK(scram_client_first_cb(&c, SCRAM_SHA256, "u", "pw", NULL, NULL, NULL, 0) == NULL);
}

/* XEP-0474 (v0.5.0) §4.1 and §5's example. */
static void test_ssdp(void)
{
	static const char *mechs[] = {"SCRAM-SHA-1-PLUS", "SCRAM-SHA-1"};
	static const char *cbs[] = {"tls-server-end-point", "tls-exporter"};
	char *h = NULL;
	/* Sorted before hashing: the example lists them in order, we do not. */
	CHECK(scram_ssdp_hash(SCRAM_SHA1, mechs, 2, cbs, 2, &h) == 0);
	CHECK_STR(h, "G6k/rBLDqgOhRRaCuuatSDFkJ08=");
	free(h);
	/* Without XEP-0440 there is no %x1F: not the same as an empty list. */
	char *none = NULL, *empty = NULL;
	CHECK(scram_ssdp_hash(SCRAM_SHA256, mechs, 2, NULL, 0, &none) == 0);
	CHECK(scram_ssdp_hash(SCRAM_SHA256, mechs, 2, cbs, 0, &empty) == 0);
	CHECK(none && empty && strlen(none) == 44 && strcmp(none, empty));
	free(none);
	free(empty);
	CHECK(scram_ssdp_hash((enum scram_hash)5, mechs, 2, NULL, 0, &h) == -EINVAL && !h);
	/* The server-first-message carries it as h= after i=. */
	struct scram_server s;
	struct scram_creds cr;
	const char *sf, *m = "n,,n=u,r=abc";
	CHECK(scram_server_start_cb(&s, SCRAM_SHA1, SCRAM_CB_OFFERED, m, strlen(m)) == 0);
	CHECK(scram_server_set_ssdp(&s, mechs, 2, cbs, 2) == 0);
	CHECK(scram_server_set_ssdp(&s, mechs, 2, cbs, 2) == -EINVAL); /* once */
	CHECK(scram_derive(SCRAM_SHA1, "pencil", (const uint8_t *)"salt", 4, 4096, &cr) == 0);
	CHECK(scram_server_first_with_nonce(&s, &cr, "srv", &sf) == 0);
	CHECK_STR(sf, "r=abcsrv,s=c2FsdA==,i=4096,h=G6k/rBLDqgOhRRaCuuatSDFkJ08=");
	scram_server_free(&s);
}

int main(void)
{
	test_names();
	test_base64_vectors();
	test_base64_invalid();
	test_base64_roundtrip();
	test_derive_sha1();
	test_vector_client(&rfc5802);
	test_vector_client(&rfc7677);
	test_client_cache(&rfc5802);
	test_client_cache(&rfc7677);
	test_vector_server(&rfc5802);
	test_vector_server(&rfc7677);
	test_server_first_errors();
	test_server_final_errors();
	test_server_fields();
	test_exchanges();
	test_fake_creds();
	test_saslprep();
	test_client_errors();
	test_gs2_flags();
	test_cbind_exchanges();
	test_ssdp();
	CHECK_DONE();
}
