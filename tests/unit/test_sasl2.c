/* The cm's reading of XEP-0388's <authenticate/> and XEP-0386's resource
 * (cm/sasl2.c); the exchange itself is in tests/e2e/test_sasl2.py. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cm/sasl2.h"
#include "lib/jid.h"

#define A "<authenticate xmlns='urn:xmpp:sasl:2'"

/* Parses xml as one element and reads it as <authenticate/>. */
static int parse(const char *xml, size_t max, struct sasl2_request *r)
{
	struct stanza s;
	int rc = stanza_parse(xml, strlen(xml), &s);
	CHECK(rc == 0);
	if (rc == 0)
		rc = sasl2_parse_authenticate(&s, max, r);
	stanza_free(&s);
	return rc;
}

static void test_authenticate(void)
{
	struct sasl2_request r;
	CHECK(parse(A " mechanism='PLAIN'><initial-response>AGEAYg==</initial-response>"
		      "<user-agent id='x'><software>t</software></user-agent></authenticate>",
		    100, &r) == 0);
	CHECK_STR(r.mech, "PLAIN");
	CHECK(r.initial_len == 4 && !memcmp(r.initial, "\0a\0b", 4) && r.initial[4] == 0);
	CHECK(!r.bind && !r.tag);
	sasl2_request_free(&r);
	/* §2.2: no <initial-response/> is none; an empty one is the empty string. */
	CHECK(parse(A " mechanism='SCRAM-SHA-256'/>", 100, &r) == 0);
	CHECK(r.initial == NULL && r.initial_len == 0);
	sasl2_request_free(&r);
	CHECK(parse(A " mechanism='X'><initial-response/></authenticate>", 100, &r) == 0);
	CHECK(r.initial && r.initial[0] == 0 && r.initial_len == 0);
	sasl2_request_free(&r);
	/* XEP-0386 §3.2: <bind/>, with or without <tag/>; only in its namespace. */
	CHECK(parse(A " mechanism='X'><bind xmlns='urn:xmpp:bind:0'><tag>Gajim</tag></bind>"
		      "</authenticate>", 100, &r) == 0);
	CHECK(r.bind && r.tag && !strcmp(r.tag, "Gajim"));
	sasl2_request_free(&r);
	CHECK(parse(A " mechanism='X'><bind xmlns='urn:xmpp:bind:0'/></authenticate>", 100, &r) == 0);
	CHECK(r.bind && !r.tag && !r.sm_enable && !r.inactive);
	sasl2_request_free(&r);
	/* §3.2: features to start with, inside <bind/> and nowhere else. */
	CHECK(parse(A " mechanism='X'><bind xmlns='urn:xmpp:bind:0'><enable xmlns='urn:xmpp:sm:3' "
		      "resume='true'/><inactive xmlns='urn:xmpp:csi:0'/></bind></authenticate>",
		    100, &r) == 0);
	CHECK(r.sm_enable && !strcmp((const char *)r.sm_enable->name, "enable"));
	xmlChar *res = r.sm_enable ? xmlGetProp(r.sm_enable, (const xmlChar *)"resume") : NULL;
	CHECK(res && !strcmp((const char *)res, "true"));
	xmlFree(res);
	CHECK(r.inactive && !r.carbons);
	sasl2_request_free(&r);
	CHECK(parse(A " mechanism='X'><bind xmlns='urn:xmpp:bind:0'><enable xmlns='urn:xmpp:carbons:2'/>"
		      "</bind></authenticate>", 100, &r) == 0);
	CHECK(r.carbons && !r.sm_enable && !r.inactive);
	sasl2_request_free(&r);
	CHECK(parse(A " mechanism='X'><enable xmlns='urn:xmpp:sm:3'/><inactive xmlns='urn:xmpp:csi:0'/>"
		      "<bind xmlns='urn:xmpp:bind:0'><active xmlns='urn:xmpp:csi:0'/></bind>"
		      "</authenticate>", 100, &r) == 0);
	CHECK(r.bind && !r.sm_enable && !r.inactive);
	sasl2_request_free(&r);
	CHECK(parse(A " mechanism='X'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"
		      "</authenticate>", 100, &r) == 0);
	CHECK(!r.bind);
	sasl2_request_free(&r);
	/* Refusals, with nothing left to free. */
	CHECK(parse(A "><initial-response>AA==</initial-response></authenticate>", 100, &r) ==
	      -ENOENT);
	CHECK(parse(A " mechanism=''/>", 100, &r) == -ENOENT);
	CHECK(parse(A " mechanism='X'><initial-response>***</initial-response></authenticate>",
		    100, &r) == -EINVAL);
	CHECK(parse(A " mechanism='X'><initial-response>AAAAAAAA</initial-response></authenticate>",
		    7, &r) == -EMSGSIZE);
}

/* RFC 6120 §6.4.2 against XEP-0388 §2.2: what no text and "=" mean. */
static void test_decode(void)
{
	static const struct {
		const char *xml;
		int sasl2, rc;
		const char *out; /* NULL: no data */
		size_t len;
	} t[] = {
		{"<response/>", 0, 0, NULL, 0},
		{"<response>=</response>", 0, 0, "", 0},
		{"<response>YWI=</response>", 0, 0, "ab", 2},
		{"<response>*</response>", 0, -EINVAL, NULL, 0},
		{"<response/>", 1, 0, "", 0},
		{"<response>=</response>", 1, -EINVAL, NULL, 0},
		{"<response>YWI=</response>", 1, 0, "ab", 2},
		{"<response>YWJjZA==</response>", 1, -EMSGSIZE, NULL, 0}, /* over 6 bytes */
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct stanza s;
		char *out = (char *)1;
		size_t len = 99;
		CHECK(stanza_parse(t[i].xml, strlen(t[i].xml), &s) == 0);
		CHECK(sasl_decode(s.root, 6, t[i].sasl2, &out, &len) == t[i].rc);
		CHECK(t[i].out ? out && len == t[i].len && !memcmp(out, t[i].out, len + 1)
			       : out == NULL && len == 0);
		free(out);
		stanza_free(&s);
	}
}

static int hex16(const char *s)
{
	if (strlen(s) != 16)
		return 0;
	for (; *s; s++)
		if (!strchr("0123456789abcdef", *s))
			return 0;
	return 1;
}

static void test_resource(void)
{
	char res[JID_PART_MAX + 1], res2[JID_PART_MAX + 1];
	sasl2_resource(NULL, res, sizeof res);
	CHECK(hex16(res));
	sasl2_resource(NULL, res2, sizeof res2);
	CHECK(strcmp(res, res2) != 0); /* random, not derived */
	sasl2_resource("", res, sizeof res);
	CHECK(hex16(res));
	/* XEP-0386 §3.2.1: "<tag>/<server's part>", the tag prepared as a resourcepart. */
	sasl2_resource("Conversations.xY", res, sizeof res);
	CHECK(!strncmp(res, "Conversations.xY/", 17) && hex16(res + 17));
	sasl2_resource("caf\xc3\xa9", res, sizeof res); /* UTF-8 stays as it is */
	CHECK(!strncmp(res, "caf\xc3\xa9/", 6) && hex16(res + 6));
	/* No resourcepart (U+2028 is prohibited, RFC 7613 §4.2): dropped. */
	sasl2_resource("a\xe2\x80\xa8z", res, sizeof res);
	CHECK(hex16(res));
	/* The longest tag that leaves room for "/" and the random part fits;
	 * one byte more and the tag goes. */
	char tag[JID_PART_MAX + 1];
	memset(tag, 'a', JID_PART_MAX - 17);
	tag[JID_PART_MAX - 17] = 0;
	sasl2_resource(tag, res, sizeof res);
	CHECK(strlen(res) == JID_PART_MAX && res[JID_PART_MAX - 17] == '/');
	strcat(tag, "a");
	sasl2_resource(tag, res, sizeof res);
	CHECK(hex16(res));
}

int main(void)
{
	test_authenticate();
	test_decode();
	test_resource();
	CHECK_DONE();
}
