/* XEP-0115 verification strings (core/caps_ver.c): the spec's two examples
 * (§5.2, §5.3), independence from the order of the elements, what is left
 * out of S, and the results §5.4 says must not be trusted (-EINVAL). */
#include <errno.h>
#include <libxml/parser.h>
#include <string.h>

#include "core/caps_ver.h"
#include "tests/unit/check.h"

#define Q "<query xmlns='http://jabber.org/protocol/disco#info'>"
#define QEND "</query>"
#define FEAT(v) "<feature var='" v "'/>"
#define FORM(f) "<x xmlns='jabber:x:data' type='result'>" f "</x>"
#define FORM_TYPE(v) "<field var='FORM_TYPE' type='hidden'><value>" v "</value></field>"

/* §5.2's identity and features. */
#define SIMPLE_BODY                                                                                \
	"<identity category='client' type='pc' name='Exodus 0.9.1'/>"                              \
	FEAT("http://jabber.org/protocol/caps") FEAT("http://jabber.org/protocol/disco#info")      \
	FEAT("http://jabber.org/protocol/disco#items") FEAT("http://jabber.org/protocol/muc")
#define SIMPLE_VER "QgayPKawpkPSDYmwT/WM94uAlu0="
#define COMPLEX_VER "q07IKJEyjvHSyhy//CH0CxmKi8w="
#define EMPTY_VER "2jmj7l5rSw0yVb/vlWAYkK/YBwk=" /* SHA-1 of the empty S */

/* Two forms for test_details(). */
#define T_FORM                                                                                     \
	FORM(FORM_TYPE("urn:t") "<field var='b'/>"                                                 \
				"<field var='a'><value>z</value><value/><value>z</value></field>")
#define S_FORM FORM(FORM_TYPE("urn:s"))

/* §5.3 as the spec prints it, white space included. */
static const char complex_xml[] =
	"<query xmlns='http://jabber.org/protocol/disco#info'\n"
	"       node='http://psi-im.org#q07IKJEyjvHSyhy//CH0CxmKi8w='>\n"
	"  <identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>\n"
	"  <identity xml:lang='el' category='client' name='&#936; 0.11' type='pc'/>\n"
	"  <feature var='http://jabber.org/protocol/caps'/>\n"
	"  <feature var='http://jabber.org/protocol/disco#info'/>\n"
	"  <feature var='http://jabber.org/protocol/disco#items'/>\n"
	"  <feature var='http://jabber.org/protocol/muc'/>\n"
	"  <x xmlns='jabber:x:data' type='result'>\n"
	"    <field var='FORM_TYPE' type='hidden'>\n"
	"      <value>urn:xmpp:dataforms:softwareinfo</value>\n"
	"    </field>\n"
	"    <field var='ip_version' type='text-multi' >\n"
	"      <value>ipv4</value>\n"
	"      <value>ipv6</value>\n"
	"    </field>\n"
	"    <field var='os'>\n"
	"      <value>Mac</value>\n"
	"    </field>\n"
	"    <field var='os_version'>\n"
	"      <value>10.5.1</value>\n"
	"    </field>\n"
	"    <field var='software'>\n"
	"      <value>Psi</value>\n"
	"    </field>\n"
	"    <field var='software_version'>\n"
	"      <value>0.11</value>\n"
	"    </field>\n"
	"  </x>\n"
	"</query>\n";

/* The same result with every list in another order and the form first. */
static const char complex_shuffled[] =
	Q FORM("<field var='software_version'><value>0.11</value></field>"
	       "<field var='os'><value>Mac</value></field>"
	       "<field var='ip_version' type='text-multi'>"
	       "<value>ipv6</value><value>ipv4</value></field>"
	       "<field var='software'><value>Psi</value></field>"
	       FORM_TYPE("urn:xmpp:dataforms:softwareinfo")
	       "<field var='os_version'><value>10.5.1</value></field>")
	FEAT("http://jabber.org/protocol/muc")
	"<identity category='client' type='pc' name='Psi 0.11' xml:lang='en'/>"
	FEAT("http://jabber.org/protocol/disco#items")
	FEAT("http://jabber.org/protocol/caps")
	"<identity type='pc' xml:lang='el' name='\xce\xa8 0.11' category='client'/>"
	FEAT("http://jabber.org/protocol/disco#info") QEND;

/* Parses xml and hashes its root element into out; the return code. */
static int ver(const char *xml, char out[CAPS_VER_LEN + 1])
{
	xmlDocPtr d = xmlReadMemory(xml, (int)strlen(xml), NULL, NULL, XML_PARSE_NONET);
	CHECK(d != NULL);
	if (!d)
		return -EBADMSG;
	int rc = caps_ver_sha1(xmlDocGetRootElement(d), out);
	xmlFreeDoc(d);
	return rc;
}

/* 1 when xml hashes to expect. */
static int ver_is(const char *xml, const char *expect)
{
	char out[CAPS_VER_LEN + 1];
	int rc = ver(xml, out);
	if (rc)
		fprintf(stderr, "caps_ver_sha1: %d for %s\n", rc, xml);
	else if (strcmp(out, expect))
		fprintf(stderr, "caps_ver_sha1: %s, not %s, for %s\n", out, expect, xml);
	return !rc && !strcmp(out, expect) && strlen(out) == CAPS_VER_LEN;
}

/* 1 when xml is refused with -EINVAL and out is left empty. */
static int refused(const char *xml)
{
	char out[CAPS_VER_LEN + 1] = "x";
	return ver(xml, out) == -EINVAL && out[0] == '\0';
}

static void test_examples(void)
{
	CHECK(ver_is(Q SIMPLE_BODY QEND, SIMPLE_VER));
	CHECK(ver_is(complex_xml, COMPLEX_VER));
	/* The attribute order in §5.3 is the spec's; any order hashes alike. */
	CHECK(ver_is(complex_shuffled, COMPLEX_VER));
	CHECK(ver_is(Q FEAT("http://jabber.org/protocol/muc")
		     FEAT("http://jabber.org/protocol/caps")
		     FEAT("http://jabber.org/protocol/disco#items")
		     "<identity name='Exodus 0.9.1' type='pc' category='client'/>"
		     FEAT("http://jabber.org/protocol/disco#info") QEND,
		     SIMPLE_VER));
	CHECK(ver_is(Q QEND, EMPTY_VER));
	CHECK(ver_is("<query xmlns='http://jabber.org/protocol/disco#info'/>", EMPTY_VER));
}

/* S written out by hand (the ver below each is base64(SHA-1(S)), computed
 * apart): what the examples do not show. */
static void test_details(void)
{
	/* Identities sort by category first, not as joined strings: "a" < "a-b"
	 * though "a-b/" < "a//".  S = "a/x//<a-b/x//<". */
	CHECK(ver_is(Q "<identity category='a-b' type='x'/><identity category='a' type='x'/>" QEND,
		     "DMGnBGc0Z78xbQqz/qhzJf5jVTs="));
	/* Bytewise: "z" < "\xc3\xa9".  Values sorted, repeated and empty kept; a
	 * field without values is its var alone; forms sorted by FORM_TYPE.
	 * S = "c/t//<f<z<\xc3\xa9<urn:s<urn:t<a<<z<z<b<". */
	CHECK(ver_is(Q "<identity category='c' type='t'/>" FEAT("\xc3\xa9") FEAT("f") FEAT("z")
		     T_FORM S_FORM QEND, "BRTC6IXUdBTS3NyE6d5rC5aqM7c="));
	CHECK(ver_is(Q S_FORM FEAT("z") T_FORM "<identity category='c' type='t'/>" FEAT("f")
		     FEAT("\xc3\xa9") QEND, "BRTC6IXUdBTS3NyE6d5rC5aqM7c="));
	/* The FORM_TYPE may repeat one value (§5.4 step 3.5 refuses only
	 * different ones).  S = "c/t//<f<z<\xc3\xa9<urn:t<a<<z<z<b<". */
	CHECK(ver_is(Q "<identity category='c' type='t'/>" FEAT("\xc3\xa9") FEAT("f") FEAT("z")
		     FORM("<field var='FORM_TYPE' type='hidden'>"
			  "<value>urn:t</value><value>urn:t</value></field><field var='b'/>"
			  "<field var='a'><value>z</value><value/><value>z</value></field>") QEND,
		     "JHNcXqYlUxfauGE2JGyUjgGIl3M="));
	/* Identities that differ by name alone are distinct (§5.4 step 3.3). */
	char a[CAPS_VER_LEN + 1], b[CAPS_VER_LEN + 1];
	CHECK(ver(Q "<identity category='c' type='t' name='A'/><identity category='c' type='t' "
		    "name='B'/>" QEND, a) == 0);
	CHECK(ver(Q "<identity category='c' type='t' name='B'/><identity category='c' type='t' "
		    "name='A'/>" QEND, b) == 0);
	CHECK_STR(a, b);
}

/* What is not part of S: elements of other namespaces, forms §5.4 step 3.6
 * ignores, forms that are not results, attributes in other namespaces. */
static void test_ignored(void)
{
	CHECK(ver_is(Q "<identity xmlns='urn:other' category='x' type='y'/>"
		       "<feature xmlns='urn:other' var='urn:other'/>"
		       "<x xmlns='urn:other' type='result'>" FORM_TYPE("urn:o") "</x>"
		       "<other category='x' type='y' var='z'/>" SIMPLE_BODY
		       "<feature xmlns='jabber:x:data' var='urn:other'/><!-- c --><?pi x?>" QEND,
		     SIMPLE_VER));
	/* Only xml:lang is a language, and only unprefixed attributes count. */
	CHECK(ver_is(Q "<identity xmlns:o='urn:o' category='client' type='pc' name='Exodus 0.9.1' "
		       "o:lang='de' o:category='x' o:name='y'/>"
		       FEAT("http://jabber.org/protocol/caps")
		       FEAT("http://jabber.org/protocol/disco#info")
		       FEAT("http://jabber.org/protocol/disco#items")
		       "<feature xmlns:o='urn:o' o:var='x' "
		       "var='http://jabber.org/protocol/muc'/>" QEND,
		     SIMPLE_VER));
	/* xml:lang on the query is not the identity's: the identity's own
	 * attribute is what §5.1 sorts by. */
	CHECK(ver_is("<query xmlns='http://jabber.org/protocol/disco#info' xml:lang='en'>"
		     SIMPLE_BODY QEND, SIMPLE_VER));
	/* §5.4 step 3.6: no FORM_TYPE, or one not hidden (a field's type
	 * defaults to text-single, XEP-0004 §3.3): the form is left out. */
	CHECK(ver_is(Q SIMPLE_BODY FORM("<field var='os'><value>Mac</value></field>") QEND,
		     SIMPLE_VER));
	CHECK(ver_is(Q SIMPLE_BODY FORM("<field var='FORM_TYPE' type='text-single'><value>urn:x"
				       "</value></field><field var='os'><value>Mac</value></field>")
		     QEND, SIMPLE_VER));
	CHECK(ver_is(Q SIMPLE_BODY FORM("<field var='FORM_TYPE'><value>urn:x</value></field>") QEND,
		     SIMPLE_VER));
	/* A left-out form clashes with nothing, and is not looked into. */
	char with[CAPS_VER_LEN + 1], without[CAPS_VER_LEN + 1];
	CHECK(ver(Q SIMPLE_BODY FORM(FORM_TYPE("urn:x")) QEND, without) == 0);
	CHECK(ver(Q SIMPLE_BODY FORM(FORM_TYPE("urn:x"))
		    FORM("<field var='FORM_TYPE'><value>urn:x</value><value>urn:y</value></field>"
			 "<field var='a'/><field var='a'/><field/>") QEND,
		  with) == 0);
	CHECK_STR(with, without);
	CHECK(strcmp(without, SIMPLE_VER) != 0);
	/* Not a result: no extended information (XEP-0128). */
	CHECK(ver_is(Q SIMPLE_BODY "<x xmlns='jabber:x:data' type='form'>" FORM_TYPE("urn:x") "</x>"
		     "<x xmlns='jabber:x:data'>" FORM_TYPE("urn:y") "</x>" QEND,
		     SIMPLE_VER));
}

/* §5.4 step 3: ill-formed results are refused, and so is what S cannot hold. */
static void test_refused(void)
{
	/* Step 3.3: the same category/type/lang/name twice; an absent xml:lang
	 * and an empty one write the same S. */
	CHECK(refused(Q SIMPLE_BODY
		      "<identity category='client' type='pc' name='Exodus 0.9.1'/>" QEND));
	CHECK(refused(Q "<identity category='c' type='t' xml:lang='en' name='n'/>"
		        "<identity name='n' xml:lang='en' type='t' category='c'/>" QEND));
	CHECK(refused(Q "<identity category='c' type='t'/><identity category='c' type='t' "
		        "xml:lang='' name=''/>" QEND));
	/* Step 3.4. */
	CHECK(refused(Q SIMPLE_BODY FEAT("http://jabber.org/protocol/caps") QEND));
	/* Step 3.5: two forms with one FORM_TYPE; a FORM_TYPE with two values. */
	CHECK(refused(Q SIMPLE_BODY FORM(FORM_TYPE("urn:x") "<field var='a'/>")
			FORM(FORM_TYPE("urn:x") "<field var='b'/>") QEND));
	CHECK(refused(Q FORM("<field var='FORM_TYPE' type='hidden'><value>urn:x</value>"
			     "<value>urn:y</value></field>") QEND));
	/* What S has no place for: a FORM_TYPE without value, two FORM_TYPE
	 * fields, two fields with one var, a field without var. */
	CHECK(refused(Q FORM("<field var='FORM_TYPE' type='hidden'/>") QEND));
	CHECK(refused(Q FORM(FORM_TYPE("urn:x") FORM_TYPE("urn:x")) QEND));
	CHECK(refused(Q FORM(FORM_TYPE("urn:x")
			     "<field var='FORM_TYPE'><value>urn:x</value></field>") QEND));
	CHECK(refused(Q FORM(FORM_TYPE("urn:x") "<field var='a'><value>1</value></field>"
				"<field var='a'><value>2</value></field>") QEND));
	CHECK(refused(Q FORM(FORM_TYPE("urn:x") "<field type='fixed'><value>1</value></field>")
			QEND));
	/* XEP-0030 §3.1: category, type and var are required. */
	CHECK(refused(Q "<identity type='pc'/>" QEND));
	CHECK(refused(Q "<identity category='client'/>" QEND));
	CHECK(refused(Q "<feature/>" QEND));
	/* Not a disco#info query. */
	CHECK(refused("<query xmlns='http://jabber.org/protocol/disco#items'/>"));
	CHECK(refused("<info xmlns='http://jabber.org/protocol/disco#info'/>"));
	CHECK(refused("<query/>"));
	char out[CAPS_VER_LEN + 1] = "x";
	CHECK(caps_ver_sha1(NULL, out) == -EINVAL && out[0] == '\0');
}

int main(void)
{
	test_examples();
	test_details();
	test_ignored();
	test_refused();
	xmlCleanupParser();
	CHECK_DONE();
}
