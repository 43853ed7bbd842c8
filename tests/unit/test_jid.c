/* Tests for lib/jid: splitting, preparation (Nodeprep, Nameprep,
 * Resourceprep), limits, and formatting. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stringprep.h>

#include "check.h"
#include "lib/jid.h"

/* Parses s and checks the three parts (NULL = absent). */
static void good(const char *s, const char *local, const char *domain, const char *res)
{
	struct jid j;
	int rc = jid_parse(s, &j);
	CHECK(rc == 0);
	if (rc) {
		fprintf(stderr, "  rejected \"%s\": %d\n", s, rc);
		return;
	}
	CHECK(local ? j.local && !strcmp(j.local, local) : j.local == NULL);
	CHECK_STR(j.domain, domain);
	CHECK(res ? j.resource && !strcmp(j.resource, res) : j.resource == NULL);
	jid_free(&j);
	CHECK(j.mem == NULL && j.domain == NULL);
}

static void bad(const char *s)
{
	struct jid j;
	int rc = jid_parse(s, &j);
	CHECK(rc == -EINVAL);
	if (rc != -EINVAL)
		fprintf(stderr, "  \"%s\" gave %d\n", s, rc);
	CHECK(j.mem == NULL && j.domain == NULL);
	jid_free(&j);
}

static void test_good(void)
{
	good("example.com", NULL, "example.com", NULL);
	good("juliet@example.com", "juliet", "example.com", NULL);
	good("juliet@example.com/balcony", "juliet", "example.com", "balcony");
	good("example.com/foo", NULL, "example.com", "foo");
	/* RFC 7622 §3.1: the resource may contain '@' and '/'. */
	good("juliet@example.com/foo@bar", "juliet", "example.com", "foo@bar");
	good("juliet@example.com/a/b", "juliet", "example.com", "a/b");
	good("example.com/@", NULL, "example.com", "@");
	/* Case: local and domain fold, the resource keeps its case. */
	good("JULIET@Example.COM/Balcony", "juliet", "example.com", "Balcony");
	/* UTF-8 case folding (Nodeprep B.2 mapping). */
	good("\xc5\x98@example.com", "\xc5\x99", "example.com", NULL);
	good("\xc3\x9c" "BER@\xc3\x9c" "ber.example", "\xc3\xbc" "ber", "\xc3\xbc" "ber.example",
	     NULL);
	/* Resourceprep: spaces allowed, NFKC applied (U+2168 -> "IX"). */
	good("a@b/my resource", "a", "b", "my resource");
	good("a@b/\xe2\x85\xa8", "a", "b", "IX");
	/* One trailing dot of the domain is stripped (RFC 7622 §3.2). */
	good("a@example.com./r", "a", "example.com", "r");
	good("example.com.", NULL, "example.com", NULL);
	/* IP literals. */
	good("a@192.168.0.1", "a", "192.168.0.1", NULL);
	good("a@[::1]/r", "a", "[::1]", "r");
	good("[2001:db8::1]", NULL, "[2001:db8::1]", NULL);
	good("a@under_score.example-host", "a", "under_score.example-host", NULL);
	good("localhost", NULL, "localhost", NULL);
}

static void test_bad(void)
{
	static const char *cases[] = {
	    "",
	    "@example.com",		/* empty local */
	    "a@",			/* empty domain */
	    "a@/r",			/* empty domain */
	    "/r",			/* empty domain */
	    "example.com/",		/* empty resource */
	    "a@example.com/",	/* empty resource */
	    "@",
	    "a@b@c",			/* '@' in the domain */
	    "a b@example.com",		/* space in local (Nodeprep C.1.1) */
	    "a\"b@example.com",	/* Nodeprep prohibits " & ' : < > */
	    "a&b@example.com",
	    "a'b@example.com",
	    "a:b@example.com",
	    "a<b@example.com",
	    "a>b@example.com",
	    "exa mple.com",		/* space in domain */
	    "exa\tmple.com",		/* control in domain */
	    "example.com:5222",
	    "a@b/c\x01",		/* control in resource (C.2.1) */
	    "a@b/c\x7f",
	    ".",
	    "example..com",
	    ".example.com",
	    "example.com..",
	    "a@[::1",
	    "a@[not-an-ip]",
	    "a@[]",
	    "a@[192.168.0.1]",
	    "\xff@example.com",		/* invalid UTF-8 */
	    "a@exa\xc0\xaemple.com",	/* overlong '.' */
	    "a@b/\xed\xa0\x80",		/* surrogate */
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		bad(cases[i]);
	/* Soft hyphens map to nothing: "a<SHY><SHY>" is "a", but "<SHY>" alone is empty. */
	good("a\xc2\xad\xc2\xad@b", "a", "b", NULL);
	bad("\xc2\xad@b");
	bad("a@b/\xc2\xad");
	/* Bidi rule (RFC 3454 §6): RandAL and L characters mixed. */
	bad("\xd8\xa7" "a@example.com");
	struct jid j;
	CHECK(jid_parse(NULL, &j) == -EINVAL);
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);
	memset(s, c, n);
	s[n] = 0;
	return s;
}

/* RFC 7622 §3.1: every part is at most 1023 octets after preparation. */
static void test_lengths(void)
{
	char *l1023 = repeat('a', 1023), *l1024 = repeat('a', 1024), *s;
	char *up = repeat('A', 1023);
	CHECK(asprintf(&s, "%s@example.com/%s", l1023, l1023) > 0);
	struct jid j;
	CHECK(jid_parse(s, &j) == 0);
	CHECK(j.local && strlen(j.local) == 1023 && strlen(j.resource) == 1023);
	jid_free(&j);
	free(s);
	CHECK(asprintf(&s, "%s@example.com", l1024) > 0);
	bad(s);
	free(s);
	CHECK(asprintf(&s, "a@example.com/%s", l1024) > 0);
	bad(s);
	free(s);
	bad(l1024); /* domain */
	good(l1023, NULL, l1023, NULL);
	good(up, NULL, l1023, NULL);
	/* Under 1023 bytes before, more after preparation: Nodeprep folds U+0130
	 * (2 bytes) to "i" U+0307 (3 bytes); Resourceprep keeps it. */
	char *sz = malloc(1024);
	for (int i = 0; i < 1022; i += 2)
		memcpy(sz + i, "\xc4\xb0", 2);
	sz[1022] = 0;
	CHECK(asprintf(&s, "a@b/%s", sz) > 0);
	good(s, "a", "b", sz); /* Resourceprep does not case-fold */
	free(s);
	CHECK(asprintf(&s, "%s@b", sz) > 0);
	bad(s); /* 1533 bytes after Nodeprep */
	free(s);
	free(sz);
	/* Oversized raw input is refused cheaply. */
	char *huge = repeat('a', 1 << 16);
	bad(huge);
	free(huge);
	free(l1023);
	free(l1024);
	free(up);
}

static void test_prep(void)
{
	char out[16];
	CHECK(jid_prep_local("Juliet", out, sizeof out) == 0);
	CHECK_STR(out, "juliet");
	CHECK(jid_prep_local("a b", out, sizeof out) == -EINVAL);
	CHECK(jid_prep_local("", out, sizeof out) == -EINVAL);
	CHECK(jid_prep_local("abcdefghijklmnop", out, sizeof out) == -ENAMETOOLONG);
	CHECK(jid_prep_local("abcdefghijklmno", out, sizeof out) == 0);
	CHECK(jid_prep_domain("EXAMPLE.com.", out, sizeof out) == 0);
	CHECK_STR(out, "example.com");
	CHECK(jid_prep_domain("ex ample", out, sizeof out) == -EINVAL);
	CHECK(jid_prep_resource("Balcony", out, sizeof out) == 0);
	CHECK_STR(out, "Balcony");
	CHECK(jid_prep_resource("x\x01", out, sizeof out) == -EINVAL);
	CHECK(jid_prep_resource(NULL, out, sizeof out) == -EINVAL);
	CHECK(jid_prep_local("x", out, 1) == -ENAMETOOLONG);
}

static void test_format(void)
{
	struct jid j;
	CHECK(jid_parse("Romeo@Example.net/Orchard", &j) == 0);
	char *b = jid_bare(&j), *f = jid_full(&j);
	CHECK_STR(b, "romeo@example.net");
	CHECK_STR(f, "romeo@example.net/Orchard");
	free(b);
	free(f);
	jid_free(&j);
	CHECK(jid_parse("example.net/x", &j) == 0);
	b = jid_bare(&j), f = jid_full(&j);
	CHECK_STR(b, "example.net");
	CHECK_STR(f, "example.net/x");
	free(b);
	free(f);
	jid_free(&j);
	CHECK(jid_parse("example.net", &j) == 0);
	b = jid_bare(&j), f = jid_full(&j);
	CHECK_STR(b, "example.net");
	CHECK_STR(f, "example.net");
	free(b);
	free(f);
	jid_free(&j);
	/* Formatting a parsed JID and parsing it again is stable. */
	CHECK(jid_parse("\xc5\x98" "a@\xc3\x9c" "ber.example./R", &j) == 0);
	f = jid_full(&j);
	struct jid k;
	CHECK(f && jid_parse(f, &k) == 0);
	char *f2 = jid_full(&k);
	CHECK_STR(f2, f);
	free(f);
	free(f2);
	jid_free(&j);
	jid_free(&k);
}

/* The ASCII fast path must give libidn's answer: every printable ASCII
 * character alone and between letters, for the local part and the resource. */
static void test_ascii_matches_libidn(void)
{
	int agree = 1;
	for (int ch = 0x21; ch <= 0x7e; ch++) {
		char in[2][4] = {{(char)ch, 0}, {'A', (char)ch, 'b', 0}};
		for (int k = 0; k < 2; k++) {
			const char *profiles[] = {"Nodeprep", "Resourceprep"};
			int (*ours[])(const char *, char *, size_t) = {jid_prep_local, jid_prep_resource};
			for (int p = 0; p < 2; p++) {
				char mine[16], *theirs = NULL;
				int a = ours[p](in[k], mine, sizeof mine);
				int b = stringprep_profile(in[k], &theirs, profiles[p], 0);
				if ((a == 0) != (b == STRINGPREP_OK) || (a == 0 && strcmp(mine, theirs))) {
					fprintf(stderr, "ascii %s '%s': ours %d libidn %d\n", profiles[p],
						in[k], a, b);
					agree = 0;
				}
				free(theirs);
			}
		}
	}
	CHECK(agree);
}

int main(void)
{
	test_ascii_matches_libidn();
	test_good();
	test_bad();
	test_lengths();
	test_prep();
	test_format();
	CHECK_DONE();
}
