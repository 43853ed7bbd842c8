/* test_digest_md5: RFC 2831 DIGEST-MD5 server side (lib/digest_md5). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "lib/digest_md5.h"

/* RFC 2831 §4: the example digest-response for chris / secret. */
static const char example[] =
	"charset=utf-8,username=\"chris\",realm=\"elwood.innosoft.com\","
	"nonce=\"OA6MG9tEQGm2hh\",nc=00000001,cnonce=\"OA6MHXh6VqTrRk\","
	"digest-uri=\"imap/elwood.innosoft.com\","
	"response=d388dad90d4bbd760a152321f2143af7,qop=auth";

static void test_example(void)
{
	struct digest_md5_resp r;
	uint8_t urp[DIGEST_MD5_URP_LEN];
	char out[DIGEST_MD5_HEX_LEN + 1];
	CHECK(digest_md5_parse(example, strlen(example), &r) == 0);
	CHECK_STR(r.v[DM_USERNAME], "chris");
	CHECK_STR(r.v[DM_DIGEST_URI], "imap/elwood.innosoft.com");
	CHECK(digest_md5_urp("chris", "elwood.innosoft.com", "secret", urp) == 0);
	CHECK(digest_md5_response(urp, &r, 0, out) == 0);
	CHECK_STR(out, "d388dad90d4bbd760a152321f2143af7");
	CHECK(digest_md5_verify(urp, &r) == 1);
	/* §4: the server's rspauth in the example. */
	CHECK(digest_md5_response(urp, &r, 1, out) == 0);
	CHECK_STR(out, "ea40f60335c427b5527b84dbabcdfffd");
	CHECK(digest_md5_check(&r, "elwood.innosoft.com", "OA6MG9tEQGm2hh",
			       "imap/elwood.innosoft.com") == 0);
	/* Each of what we offered must come back as we offered it. */
	CHECK(digest_md5_check(&r, "other.example", "OA6MG9tEQGm2hh", "imap/elwood.innosoft.com") ==
	      -EPERM);
	CHECK(digest_md5_check(&r, "elwood.innosoft.com", "OA6MG9tEQGm2hX",
			       "imap/elwood.innosoft.com") == -EPERM);
	CHECK(digest_md5_check(&r, "elwood.innosoft.com", "OA6MG9tEQGm2hh",
			       "xmpp/elwood.innosoft.com") == -EPERM);
	uint8_t wrong[DIGEST_MD5_URP_LEN];
	CHECK(digest_md5_urp("chris", "elwood.innosoft.com", "secreT", wrong) == 0);
	CHECK(digest_md5_verify(wrong, &r) == 0);
	digest_md5_resp_free(&r);
}

/* Directives the check looks at one by one: nc, qop, charset, realm. */
static void test_check_fields(void)
{
	static const struct {
		const char *msg;
		int rc;
	} cases[] = {
		{"username=u,realm=d,nonce=n,cnonce=c,nc=00000001,digest-uri=\"xmpp/d\","
		 "response=0123456789abcdef0123456789abcdef", 0},
		{"username=u,realm=d,nonce=n,cnonce=c,nc=00000002,digest-uri=\"xmpp/d\","
		 "response=0123456789abcdef0123456789abcdef", -EPERM},
		{"username=u,realm=d,nonce=n,cnonce=c,nc=00000001,qop=auth-int,digest-uri=\"xmpp/d\","
		 "response=0123456789abcdef0123456789abcdef", -EPERM},
		{"username=u,realm=d,nonce=n,cnonce=c,nc=00000001,charset=latin1,digest-uri=\"xmpp/d\","
		 "response=0123456789abcdef0123456789abcdef", -EPERM},
		{"username=u,nonce=n,cnonce=c,nc=00000001,digest-uri=\"xmpp/d\","
		 "response=0123456789abcdef0123456789abcdef", -EPERM},
		{"username=u,realm=d,nonce=n,cnonce=c,nc=00000001,digest-uri=\"xmpp/d\","
		 "response=0123456789abcdef", -EPERM},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct digest_md5_resp r;
		CHECK(digest_md5_parse(cases[i].msg, strlen(cases[i].msg), &r) == 0);
		CHECK(digest_md5_check(&r, "d", "n", "xmpp/d") == cases[i].rc);
		digest_md5_resp_free(&r);
	}
}

static void test_parse_syntax(void)
{
	struct digest_md5_resp r;
	/* Escapes, spaces around '=' and ',', empty list elements, names in
	 * any case, unknown directives skipped. */
	const char *ok = " ,USERNAME = \"a\\\"b\\\\c\" ,, nonce=\"n\",cnonce=c,nc=00000001,"
			 "maxbuf=65536,x-new=\"?\",digest-uri=\"xmpp/d\",response=r , ";
	CHECK(digest_md5_parse(ok, strlen(ok), &r) == 0);
	CHECK_STR(r.v[DM_USERNAME], "a\"b\\c");
	CHECK_STR(r.v[DM_CNONCE], "c");
	CHECK(r.v[DM_REALM] == NULL && r.v[DM_AUTHZID] == NULL);
	digest_md5_resp_free(&r);
	static const char *bad[] = {
		"", /* nothing required is there */
		"username=u,nonce=n,cnonce=c,nc=00000001,digest-uri=x", /* no response */
		"username=u,username=v,nonce=n,cnonce=c,nc=1,digest-uri=x,response=r", /* twice */
		"username=u,nonce=n,nonce=n,cnonce=c,nc=1,digest-uri=x,response=r",
		"username=\"u,nonce=n,cnonce=c,nc=1,digest-uri=x,response=r", /* unclosed */
		"username=\"u\\",
		"username=u nonce=n,cnonce=c,nc=1,digest-uri=x,response=r", /* no comma */
		"username=,nonce=n,cnonce=c,nc=1,digest-uri=x,response=r", /* empty token */
		"=u,username=u,nonce=n,cnonce=c,nc=1,digest-uri=x,response=r",
		"username,nonce=n,cnonce=c,nc=1,digest-uri=x,response=r",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc = digest_md5_parse(bad[i], strlen(bad[i]), &r);
		CHECK(rc == -EINVAL);
		if (rc != -EINVAL)
			fprintf(stderr, "  accepted: %s\n", bad[i]);
	}
	/* A NUL inside, and a message over the §2.1.2 size. */
	const char nul[] = "username=\"u\0v\",nonce=n,cnonce=c,nc=1,digest-uri=x,response=r";
	CHECK(digest_md5_parse(nul, sizeof nul - 1, &r) == -EINVAL);
	char *big = malloc(DIGEST_MD5_MAX_MSG + 2);
	memset(big, ' ', DIGEST_MD5_MAX_MSG + 1);
	const char *tail = "username=u,nonce=n,cnonce=c,nc=1,digest-uri=x,response=r";
	memcpy(big + DIGEST_MD5_MAX_MSG + 1 - strlen(tail), tail, strlen(tail));
	CHECK(digest_md5_parse(big, DIGEST_MD5_MAX_MSG + 1, &r) == -EINVAL);
	CHECK(digest_md5_parse(big + 1, DIGEST_MD5_MAX_MSG, &r) == 0);
	digest_md5_resp_free(&r);
	free(big);
}

static void test_urp_and_challenge(void)
{
	uint8_t a[DIGEST_MD5_URP_LEN], b[DIGEST_MD5_URP_LEN];
	/* §2.1.2.1: representable in 8859-1 means hashed in 8859-1. */
	CHECK(digest_md5_urp("j\xc3\xb6rg", "d", "p\xc3\xa4ss", a) == 0);
	CHECK(digest_md5_urp("j\xf6rg", "d", "p\xe4ss", b) == -EINVAL); /* not UTF-8 */
	/* MD5("j\xf6rg:d:p\xe4ss"), the Latin-1 bytes. */
	static const uint8_t latin[DIGEST_MD5_URP_LEN] = {
		0x29, 0xb5, 0x21, 0x1c, 0xcc, 0xc4, 0x0e, 0x36,
		0x59, 0x18, 0xde, 0xc9, 0x03, 0xe5, 0xa8, 0x35};
	CHECK(memcmp(a, latin, sizeof a) == 0);
	/* A character beyond U+00FF keeps the whole string in UTF-8. */
	CHECK(digest_md5_urp("j\xc3\xb6rg", "d", "\xe2\x82\xac", b) == 0);
	CHECK(memcmp(a, b, sizeof a) != 0);
	char nonce[DIGEST_MD5_HEX_LEN + 1], n2[DIGEST_MD5_HEX_LEN + 1], ch[DIGEST_MD5_CHALLENGE_MAX];
	CHECK(digest_md5_challenge("example.org", nonce, ch, sizeof ch) == 0);
	CHECK(strlen(nonce) == DIGEST_MD5_HEX_LEN);
	CHECK(strstr(ch, "realm=\"example.org\"") && strstr(ch, "qop=\"auth\"") &&
	      strstr(ch, "algorithm=md5-sess") && strstr(ch, "charset=utf-8") && strstr(ch, nonce));
	CHECK(digest_md5_challenge("example.org", n2, ch, sizeof ch) == 0);
	CHECK(strcmp(nonce, n2) != 0); /* fresh each time */
	CHECK(digest_md5_challenge("a\"b", nonce, ch, sizeof ch) == -EINVAL);
}

int main(void)
{
	test_example();
	test_check_fields();
	test_parse_syntax();
	test_urp_and_challenge();
	CHECK_DONE();
}
