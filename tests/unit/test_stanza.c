/* Unit tests for lib/stanza.c: routing header extraction, type rules,
 * serialisation for the link, nonza detection. */
#include <errno.h>
#include <libxml/parser.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/stanza.h"
#include "lib/stanza_priv.h"
#include "lib/xmlctx.h"
#include "tests/unit/check.h"

/* Every test runs three times: on stanza_parse() (a tree), on
 * stanza_parse_head() (none; its fast path where it applies) and on
 * stanza_head_libxml() (none, libxml2 alone); what only a tree can answer is
 * asked of the first alone. */
static int head_mode;

static int parse_n(const char *xml, size_t n, struct stanza *s)
{
	int rc = head_mode == 2	  ? stanza_head_libxml(xml, n, s)
		 : head_mode == 1 ? stanza_parse_head(xml, n, s)
				  : stanza_parse(xml, n, s);
	if (rc == 0)
		CHECK((s->root != NULL) == !head_mode && (s->doc != NULL) == !head_mode);
	return rc;
}

static int parse(const char *xml, struct stanza *s) { return parse_n(xml, strlen(xml), s); }

/* Serialise s into a NUL-terminated malloc'd string (caller frees), NULL on error. */
static char *ser(const struct stanza *s)
{
	struct buf b = {0};
	if (stanza_serialize(s, &b) || buf_append(&b, "", 1)) {
		buf_free(&b);
		return NULL;
	}
	return b.data;
}

static void test_kinds(void)
{
	struct stanza s;

	CHECK(parse("<message to='a@b' from='c@d/r' id='m1' type='chat'><body>x</body></message>",
		    &s) == 0);
	CHECK(s.kind == STANZA_MESSAGE && s.type == STANZA_T_CHAT && s.ns == NULL);
	CHECK_STR(s.name, "message");
	CHECK_STR(s.id, "m1");
	CHECK_STR(s.to, "a@b");
	CHECK_STR(s.from, "c@d/r");
	stanza_free(&s);
	CHECK(s.doc == NULL && s.id == NULL);

	CHECK(parse("<message xmlns='jabber:client'/>", &s) == 0);
	CHECK(s.kind == STANZA_MESSAGE && s.type == STANZA_T_NONE);
	CHECK_STR(s.ns, STANZA_NS_CLIENT);
	CHECK(s.id == NULL && s.from == NULL && s.to == NULL);
	stanza_free(&s);

	CHECK(parse("<presence/>", &s) == 0);
	CHECK(s.kind == STANZA_PRESENCE && s.type == STANZA_T_NONE);
	stanza_free(&s);
	CHECK(parse("<presence type='unavailable' id=''/>", &s) == 0);
	CHECK(s.type == STANZA_T_UNAVAILABLE);
	CHECK_STR(s.id, "");
	stanza_free(&s);
	CHECK(parse("<presence type='chat'/>", &s) == 0);
	CHECK(s.kind == STANZA_PRESENCE && s.type == STANZA_T_INVALID);
	stanza_free(&s);

	CHECK(parse("<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>", &s) == 0);
	CHECK(s.kind == STANZA_IQ && s.type == STANZA_T_GET);
	stanza_free(&s);
	CHECK(parse("<iq id='r'/>", &s) == 0); /* RFC 6120 §8.2.3: type is required */
	CHECK(s.kind == STANZA_IQ && s.type == STANZA_T_INVALID);
	stanza_free(&s);
	CHECK(parse("<iq type='subscribe' id='r'/>", &s) == 0);
	CHECK(s.type == STANZA_T_INVALID);
	stanza_free(&s);

	/* Attributes in a namespace are not the routing attributes. */
	CHECK(parse("<message xmlns:x='urn:x' x:to='evil' x:type='chat'/>", &s) == 0);
	CHECK(s.to == NULL && s.type == STANZA_T_NONE);
	stanza_free(&s);
}

static void test_types(void)
{
	CHECK(stanza_type_parse(STANZA_MESSAGE, NULL) == STANZA_T_NONE);
	CHECK(stanza_type_parse(STANZA_MESSAGE, "normal") == STANZA_T_NORMAL);
	CHECK(stanza_type_parse(STANZA_MESSAGE, "groupchat") == STANZA_T_GROUPCHAT);
	CHECK(stanza_type_parse(STANZA_MESSAGE, "headline") == STANZA_T_HEADLINE);
	CHECK(stanza_type_parse(STANZA_MESSAGE, "error") == STANZA_T_ERROR);
	CHECK(stanza_type_parse(STANZA_MESSAGE, "get") == STANZA_T_INVALID);
	CHECK(stanza_type_parse(STANZA_MESSAGE, "Chat") == STANZA_T_INVALID);
	CHECK(stanza_type_parse(STANZA_MESSAGE, "") == STANZA_T_INVALID);
	CHECK(stanza_type_parse(STANZA_PRESENCE, "probe") == STANZA_T_PROBE);
	CHECK(stanza_type_parse(STANZA_PRESENCE, "subscribe") == STANZA_T_SUBSCRIBE);
	CHECK(stanza_type_parse(STANZA_PRESENCE, "unsubscribed") == STANZA_T_UNSUBSCRIBED);
	CHECK(stanza_type_parse(STANZA_PRESENCE, "error") == STANZA_T_ERROR);
	CHECK(stanza_type_parse(STANZA_PRESENCE, "normal") == STANZA_T_INVALID);
	CHECK(stanza_type_parse(STANZA_IQ, NULL) == STANZA_T_INVALID);
	CHECK(stanza_type_parse(STANZA_IQ, "result") == STANZA_T_RESULT);
	CHECK(stanza_type_parse(STANZA_IQ, "set") == STANZA_T_SET);
	CHECK(stanza_type_parse(STANZA_IQ, "error") == STANZA_T_ERROR);
	CHECK(stanza_type_parse(STANZA_IQ, "chat") == STANZA_T_INVALID);
	CHECK(stanza_type_parse(STANZA_OTHER, "get") == STANZA_T_INVALID);
	for (int t = STANZA_T_NORMAL; t <= STANZA_T_RESULT; t++) {
		const char *n = stanza_type_name((enum stanza_type)t);
		CHECK(n != NULL);
		int ok = 0;
		for (int k = STANZA_MESSAGE; k <= STANZA_IQ; k++)
			ok += (int)stanza_type_parse((enum stanza_kind)k, n) == t;
		CHECK(ok >= 1);
	}
	CHECK(stanza_type_name(STANZA_T_NONE) == NULL);
	CHECK(stanza_type_name(STANZA_T_INVALID) == NULL);
	CHECK_STR(stanza_kind_name(STANZA_IQ), "iq");
	CHECK_STR(stanza_kind_name(STANZA_MESSAGE), "message");
	CHECK_STR(stanza_kind_name(STANZA_PRESENCE), "presence");
	CHECK(stanza_kind_name(STANZA_OTHER) == NULL);
}

/* Serialise, reparse, and serialise again: the second pass must be identical. */
static char *round_trip(const char *xml, struct stanza *again)
{
	struct stanza s;
	char *out = NULL, *out2 = NULL;

	if (parse(xml, &s))
		return NULL;
	out = ser(&s);
	stanza_free(&s);
	if (!out || parse(out, again)) {
		free(out);
		return NULL;
	}
	out2 = ser(again);
	int same = out2 && !strcmp(out, out2);
	free(out2);
	if (!same) {
		stanza_free(again);
		free(out);
		return NULL;
	}
	return out;
}

static void test_serialize(void)
{
	struct stanza s;
	char *out;

	out = round_trip("<message xmlns='jabber:client' from='a@b/c' to='d@e' id='1' type='chat'>"
			 "<body>a &amp; b &lt;c&gt; \"q\" 'x' ]]&gt;</body>"
			 "<thread>t</thread></message>",
			 &s);
	CHECK(out != NULL);
	if (out) {
		CHECK(!strncmp(out, "<message", 8));
		CHECK(!strstr(out, "from=") && !strstr(out, "to="));
		CHECK(!strstr(out, "jabber:client"));
		CHECK(strstr(out, "id=\"1\"") && strstr(out, "type=\"chat\""));
		CHECK(strstr(out, "a &amp; b &lt;c&gt;") != NULL);
		CHECK(s.kind == STANZA_MESSAGE && s.type == STANZA_T_CHAT && s.from == NULL);
		CHECK_STR(s.id, "1");
		if (!head_mode) {
			char *body = stanza_text(stanza_child(s.root, STANZA_NS_CLIENT, "body"));
			CHECK_STR(body, "a & b <c> \"q\" 'x' ]]>");
			free(body);
		}
		stanza_free(&s);
		free(out);
	}

	out = round_trip("<iq type='result' id='r' to='x@y'>"
			 "<query xmlns='jabber:iq:roster' ver='1'>"
			 "<item jid='a@b' name='A &amp; B' subscription='both'><group>G</group>"
			 "</item></query></iq>",
			 &s);
	CHECK(out != NULL);
	if (out) {
		CHECK(!strncmp(out, "<iq", 3));
		/* The content travels as the client wrote it, byte for byte. */
		CHECK(strstr(out, ">" "<query xmlns='jabber:iq:roster' ver='1'>"
				  "<item jid='a@b' name='A &amp; B' subscription='both'><group>G</group>"
				  "</item></query></iq>") != NULL);
		if (!head_mode) {
			xmlNodePtr q = stanza_child(s.root, "jabber:iq:roster", "query");
			CHECK(q != NULL);
			CHECK(stanza_child(s.root, STANZA_NS_CLIENT, "query") == NULL);
			xmlNodePtr item = stanza_child(q, NULL, "item");
			CHECK(item != NULL);
			xmlChar *name = item ? xmlGetProp(item, BAD_CAST "name") : NULL;
			CHECK_STR((const char *)name, "A & B");
			xmlFree(name);
		}
		stanza_free(&s);
		free(out);
	}

	/* A non-default namespace declared on the root is kept; CDATA becomes text;
	 * attribute whitespace characters survive. */
	out = round_trip("<presence xmlns:c='http://jabber.org/protocol/caps' a='x&#10;y&#9;z'>"
			 "<c:c hash='sha-1' node='n' ver='v'/><status><![CDATA[<b>&]]></status>"
			 "</presence>",
			 &s);
	CHECK(out != NULL);
	if (out) {
		CHECK(strstr(out, "xmlns:c=\"http://jabber.org/protocol/caps\"") != NULL);
		CHECK(strstr(out, " a=\"x&#10;y&#9;z\"") != NULL);
		if (!head_mode) {
			CHECK(stanza_child(s.root, "http://jabber.org/protocol/caps", "c") != NULL);
			char *st = stanza_text(stanza_child(s.root, NULL, "status"));
			CHECK_STR(st, "<b>&");
			free(st);
			xmlChar *a = xmlGetProp(s.root, BAD_CAST "a");
			CHECK_STR((const char *)a, "x\ny\tz");
			xmlFree(a);
		}
		stanza_free(&s);
		free(out);
	}

	/* Exact output of a simple stanza. */
	CHECK(parse("<message to='a@b' xml:lang='en'><body>hi</body></message>", &s) == 0);
	out = ser(&s);
	CHECK_STR(out, "<message xml:lang=\"en\"><body>hi</body></message>");
	free(out);
	stanza_free(&s);
	CHECK(parse("<presence from='a@b' to='c@d'/>", &s) == 0);
	out = ser(&s);
	CHECK_STR(out, "<presence/>");
	free(out);
	stanza_free(&s);

	/* Root bound to jabber:client through a prefix goes out unprefixed. */
	CHECK(parse("<c:iq xmlns:c='jabber:client' type='get' id='1'><c:x/></c:iq>", &s) == 0);
	CHECK(s.kind == STANZA_IQ);
	out = ser(&s);
	CHECK(out && !strncmp(out, "<iq xmlns:c=\"jabber:client\"", 27));
	CHECK(out && strstr(out, "</iq>") != NULL);
	free(out);
	stanza_free(&s);
	/* ...unless a default namespace on it cannot be dropped. */
	CHECK(parse("<c:iq xmlns:c='jabber:client' xmlns='urn:x' type='get'><x/></c:iq>", &s) == 0);
	struct buf b = {0};
	CHECK(stanza_serialize(&s, &b) == -EBADMSG);
	CHECK(b.len == 0);
	buf_free(&b);
	stanza_free(&s);

	struct stanza empty = {0};
	CHECK(stanza_serialize(&empty, &b) == -EINVAL);
}

static void test_bad(void)
{
	struct stanza s;
	const char *bad[] = {
		"",
		"<message>",
		"<message></presence>",
		"<message a='1' a='2'/>",
		"<message>&foo;</message>",
		"<message><stream:error/></message>", /* prefix bound only on the header */
		"<message/><message/>",
		"<message>\xff\xfe</message>",
		"<!DOCTYPE message [<!ENTITY x 'y'>]><message>&x;</message>",
		"<!DOCTYPE message><message/>",
		"<message xmlns:a='urn:x' xmlns:b='urn:x' a:t='1' b:t='2'/>",
		"<message a:t='1'/>",
		"<message><a:b/></message>",
		"<message>x</message>trailing",
		"<message to='a<b'/>",
		"text",
		/* one element and nothing else (RFC 6120 §11.1; found by fuzz_stanza) */
		"<?m?><message a='1'>x</message>",
		"\t<?m?><auth>x</auth>",
		"<?xml version='1.0'?><message>x</message>",
		"<!-- c --><message>x</message>",
		"<message>x</message><?p </x>?>",
		"<message>x</message><!-- </x> -->",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&s, 0x5a, sizeof(s));
		CHECK(parse(bad[i], &s) == -EBADMSG);
		CHECK(s.doc == NULL && s.id == NULL);
		stanza_free(&s); /* safe on a failed parse */
	}
	memset(&s, 0, sizeof(s));
	stanza_free(&s); /* and on a zeroed struct */
}

static void test_nonza(void)
{
	struct stanza s;

	CHECK(parse("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>", &s) == 0);
	CHECK(s.kind == STANZA_OTHER && s.type == STANZA_T_NONE);
	CHECK_STR(s.ns, "urn:ietf:params:xml:ns:xmpp-tls");
	CHECK_STR(s.name, "starttls");
	stanza_free(&s);

	CHECK(parse("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
		    "mechanism='PLAIN'>AGEAYg==</auth>",
		    &s) == 0);
	CHECK(s.kind == STANZA_OTHER);
	CHECK_STR(s.ns, "urn:ietf:params:xml:ns:xmpp-sasl");
	CHECK_STR(s.name, "auth");
	char *t = stanza_text(s.root);
	CHECK_STR(t, head_mode ? "" : "AGEAYg==");
	free(t);
	stanza_free(&s);

	/* A stanza name in another namespace is not a stanza. */
	CHECK(parse("<message xmlns='jabber:server' type='chat'/>", &s) == 0);
	CHECK(s.kind == STANZA_OTHER && s.type == STANZA_T_NONE);
	char *out = ser(&s);
	CHECK(out && strstr(out, "xmlns=\"jabber:server\"") != NULL);
	free(out);
	stanza_free(&s);

	CHECK(parse("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
		    "<resource>r</resource></bind></iq>",
		    &s) == 0);
	xmlNodePtr bind = stanza_child(s.root, "urn:ietf:params:xml:ns:xmpp-bind", "bind");
	CHECK((bind != NULL) == !head_mode);
	t = stanza_text(stanza_child(bind, NULL, "resource"));
	CHECK_STR(t, head_mode ? "" : "r");
	free(t);
	CHECK(stanza_child(bind, NULL, "jid") == NULL);
	t = stanza_text(stanza_child(bind, NULL, "jid"));
	CHECK_STR(t, "");
	free(t);
	stanza_free(&s);
}

/* RFC 6120 §11.6: UTF-8 only; malformed sequences are not well-formed, and
 * valid multi-byte text survives. */
static void test_utf8(void)
{
	const char *bad[] = {"<message><body>\xff\xfe</body></message>",
			     "<message><body>\xc3\x28</body></message>",
			     "<message to='\xed\xa0\x80'/>", "<message><body>\xc0\xaf</body></message>"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct stanza s;
		CHECK(parse(bad[i], &s) == -EBADMSG);
		stanza_free(&s);
	}
	const char *good = "<message><body>caf\xc3\xa9 \xf0\x9f\x90\xa6</body></message>";
	struct stanza s;
	struct buf b = {0};
	CHECK(parse(good, &s) == 0 && stanza_serialize(&s, &b) == 0);
	CHECK(buf_avail(&b) == strlen(good) && !memcmp(buf_head(&b), good, strlen(good)));
	buf_free(&b);
	stanza_free(&s);
}

/* Stanzas of every size up to many times libxml2's 250-byte input chunk:
 * the tree holds every child and every byte of text, in order (a parse that
 * shrank its input wrongly garbled those past 500 bytes). */
static void test_large(void)
{
	struct buf x = {0};
	for (unsigned n = 1; n <= 400; n += 13) {
		buf_reset(&x);
		int err = buf_append_str(&x, "<iq type='set' id='big'><query xmlns='jabber:iq:roster'>");
		for (unsigned i = 0; i < n; i++) {
			char item[96];
			snprintf(item, sizeof item, "<item jid='c%u@example.org'><group>g%u</group></item>", i, i);
			err |= buf_append_str(&x, item);
		}
		CHECK((err | buf_append_str(&x, "</query></iq>")) == 0);
		struct stanza s;
		int rc = parse_n(buf_head(&x), buf_avail(&x), &s);
		CHECK(rc == 0);
		if (rc)
			continue;
		char *out = ser(&s);
		CHECK(out && strlen(out) == buf_avail(&x)); /* the start tag's quotes aside, the same bytes */
		CHECK(out && !memcmp(out + 24, buf_head(&x) + 24, buf_avail(&x) - 24));
		free(out);
		xmlNodePtr q = stanza_child(s.root, "jabber:iq:roster", "query");
		unsigned i = 0, ok = 1;
		for (xmlNodePtr c = q ? q->children : NULL; c; c = c->next, i++) {
			char want_jid[32], want_group[16];
			snprintf(want_jid, sizeof want_jid, "c%u@example.org", i);
			snprintf(want_group, sizeof want_group, "g%u", i);
			xmlChar *jid = xmlGetProp(c, BAD_CAST "jid");
			char *g = stanza_text(c);
			ok &= jid && !strcmp((char *)jid, want_jid) && g && !strcmp(g, want_group);
			xmlFree(jid);
			free(g);
		}
		CHECK(head_mode || (ok && i == n));
		stanza_free(&s);
	}
	buf_free(&x);
}

/* What the tree-less parse decodes itself: an '&' in an attribute value
 * reaches its callbacks as "&#38;". */
static void test_head_values(void)
{
	struct stanza s;
	CHECK(parse("<message id='a&amp;b&#38;c&#x26;d' to='x&amp;#38;y' type='chat' "
		    "a='&lt;&amp;&gt;&quot;&apos;'/>",
		    &s) == 0);
	CHECK_STR(s.id, "a&b&c&d");
	CHECK_STR(s.to, "x&#38;y");
	CHECK(s.type == STANZA_T_CHAT);
	char *out = ser(&s);
	CHECK_STR(out, "<message id=\"a&amp;b&amp;c&amp;d\" type=\"chat\" a=\"&lt;&amp;&gt;&quot;&apos;\"/>");
	free(out);
	stanza_free(&s);
	/* Content makes "<x></x>"; none makes "<x/>". */
	const char *shapes[][2] = {
		{"<message></message>", "<message/>"},
		{"<message> </message>", "<message> </message>"},
		{"<message><![CDATA[]]></message>", "<message><![CDATA[]]></message>"},
		{"<message>&amp;</message>", "<message>&amp;</message>"},
		{"<presence><show>away</show></presence>", "<presence><show>away</show></presence>"},
		{"<x:message xmlns:x='urn:x' xmlns='urn:y'><x:y/></x:message>",
		 "<x:message xmlns:x=\"urn:x\" xmlns=\"urn:y\"><x:y/></x:message>"},
		/* libxml2 hands an '&' of a namespace name over as "&#38;" */
		{"<auth xmlns='urn:a&amp;b' m='x'/>", "<auth xmlns=\"urn:a&amp;b\" m=\"x\"/>"},
		{"<x:message xmlns:x='urn:x&amp;1' xmlns='urn:y&#38;2'/>",
		 "<x:message xmlns:x=\"urn:x&amp;1\" xmlns=\"urn:y&amp;2\"/>"},
	};
	for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
		CHECK(parse(shapes[i][0], &s) == 0);
		out = ser(&s);
		CHECK_STR(out, shapes[i][1]);
		free(out);
		stanza_free(&s);
	}
}

static int same(const char *a, const char *b) { return a == b || (a && b && !strcmp(a, b)); }

/* The fast path against libxml2's: the same answer, header and bytes. */
static int fast_agrees(const char *xml, struct stanza *f)
{
	struct stanza l;
	int rc = stanza_head_libxml(xml, strlen(xml), &l), ok = rc == 0;
	char *a = ser(f), *b = ok ? ser(&l) : NULL;
	ok = ok && f->kind == l.kind && f->type == l.type && same(f->id, l.id) &&
	     same(f->from, l.from) && same(f->to, l.to) && same(f->ns, l.ns) &&
	     same(f->name, l.name) && f->head_content == l.head_content &&
	     f->head_err == l.head_err && same(a, b);
	if (!ok)
		fprintf(stderr, "fast path differs from libxml2 on %s: %s / %s\n", xml, a, b);
	free(a);
	free(b);
	stanza_free(&l);
	return ok;
}

/* The shapes clients send take the fast path and come out as libxml2's
 * parse has them; what it is not sure of it leaves to libxml2, whose
 * verdict stanza_parse_head() then gives. */
static void test_fast(void)
{
	const char *plain[] = {
		"<message to='user2@localhost' type='chat' id='m1'><body>hello</body></message>",
		"<message xmlns='jabber:client' to='juliet@example.com/balcony' from='romeo@example.net' "
		"type='chat' id='purple4dac25f4' xml:lang='en'><body>Wherefore art thou?</body>"
		"<active xmlns='http://jabber.org/protocol/chatstates'/>"
		"<request xmlns='urn:xmpp:receipts'/><markable xmlns='urn:xmpp:chat-markers:0'/>"
		"<origin-id xmlns='urn:xmpp:sid:0' id='de305d54'/></message>",
		"<presence><show>away</show><status>caf\xc3\xa9 \xf0\x9f\x90\xa6 &lt;3 &amp; "
		"&quot;x&apos; a>b ]] ]></status><c xmlns=\"http://jabber.org/protocol/caps\" "
		"hash=\"sha-1\" node=\"http://gajim.org\" ver=\"q07IKJEyjvHSyhy//CH0CxmKi8w=\"/>"
		"</presence>",
		"<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>",
		"<message\n  to = \"a@b\"\tid='x\"y' ><body>line\r\nnext\ttab</body ></message >",
		"<presence/>",
		"<message></message>",
		"<message><body/></message>",
		"<r xmlns='urn:xmpp:sm:3'/>",
		"<message xmlns='jabber:server' to='a@b'/>",
		"<message><x xmlns=''/></message>",
	};
	for (size_t i = 0; i < sizeof plain / sizeof *plain; i++) {
		struct stanza f;
		memset(&f, 0, sizeof f);
		int rc = stanza_head_fast(plain[i], strlen(plain[i]), &f);
		CHECK(rc == 1);
		if (rc == 1) {
			f.raw = plain[i];
			f.raw_len = strlen(plain[i]);
			CHECK(fast_agrees(plain[i], &f));
		}
		stanza_free(&f);
	}
	const char *left[] = {
		"<message><![CDATA[x]]></message>", "<message><!-- c --></message>",
		"<message><?pi x?></message>", "<message>&#65;</message>", "<message>&nbsp;</message>",
		"<message>a]]>b</message>", "<x:message xmlns:x='jabber:client'/>",
		"<message><x:y xmlns:x='urn:x'/></message>", "<message xmlns:x='urn:x'/>",
		"<message a='1' a='2'/>", "<message xmlns='jabber:client' xmlns='jabber:client'/>",
		"<message><body></bodx></message>", "<message><body>x</message>",
		"<message>\x01</message>", "<message>\xc3\x28</message>",
		"<message>\xef\xbf\xbe</message>", "<message>\xed\xa0\x80</message>",
		"<message>\xc0\xaf</message>", "<message to='a\tb'/>", "<message to='a<b'/>",
		"<message to='a'id='b'/>", "<message/> ", " <message/>", "<message xmlns=''/>",
		"<message><x xmlns='http://www.w3.org/XML/1998/namespace'/></message>",
		"<message><x xmlns='http://www.w3.org/2000/xmlns/'/></message>",
		"<message><x xmlns='://x'/></message>", "<message><x xmlns='relative'/></message>",
		"<message xml:space='preserve'/>", "<message xml:lang='en' xml:lang='de'/>",
		"<message to='a&amp;b'/>", "<message", "<message>", "<message/><message/>",
		"<\xc3\xa9/>", "<message a:b:c='1'/>", "<message\x7f/>", "<message>\x7f</message>",
		"<message / >", "<message to=a/>", "<?xml version='1.0'?><message/>",
	};
	for (size_t i = 0; i < sizeof left / sizeof *left; i++) {
		struct stanza f, h, t;
		memset(&f, 0, sizeof f);
		int rc = stanza_head_fast(left[i], strlen(left[i]), &f);
		CHECK(rc == 0 && !f.names && !f.id && !buf_avail(&f.head));
		if (rc)
			fprintf(stderr, "fast path took %s\n", left[i]);
		stanza_free(&f);
		CHECK(stanza_parse_head(left[i], strlen(left[i]), &h) ==
		      stanza_parse(left[i], strlen(left[i]), &t));
		stanza_free(&h);
		stanza_free(&t);
	}
	/* Nesting as deep as the fast path goes, and one more. */
	struct buf x = {0};
	for (int depth = 32; depth <= 33; depth++) {
		buf_reset(&x);
		int err = 0;
		for (int i = 0; i < depth; i++)
			err |= buf_append_str(&x, "<a>");
		for (int i = 0; i < depth; i++)
			err |= buf_append_str(&x, "</a>");
		struct stanza f;
		memset(&f, 0, sizeof f);
		CHECK(!err && stanza_head_fast(buf_head(&x), buf_avail(&x), &f) == (depth <= 32));
		stanza_free(&f);
	}
	buf_free(&x);
}

/* libxml2 prints some errors whatever the parse options say (an xml:id
 * that is no NCName): a client must not write to the server's log with
 * every stanza it sends. */
static void test_quiet(void)
{
	const char *xml = "<iq xml:id='8' type='get' id='q'><query xmlns='urn:x' xml:id='9'/></iq>";
	FILE *tmp = tmpfile();
	int saved = dup(2);
	CHECK(tmp && saved >= 0);
	if (!tmp || saved < 0)
		return;
	fflush(stderr);
	dup2(fileno(tmp), 2);
	struct stanza s;
	int rc = parse(xml, &s);
	stanza_free(&s);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	CHECK(rc == 0);
	CHECK(fseek(tmp, 0, SEEK_END) == 0 && ftell(tmp) == 0);
	fclose(tmp);
}

static void run_all(void)
{
	test_utf8();
	test_kinds();
	test_types();
	test_serialize();
	test_bad();
	test_nonza();
	test_large();
	test_head_values();
	test_quiet();
}

int main(void)
{
	run_all();
	head_mode = 1;
	run_all();
	head_mode = 2;
	run_all();
	test_fast();
	xmlctx_thread_end();
	xmlCleanupParser();
	CHECK_DONE();
}
