/* Tests for lib/wire: the backend link frame codec (docs/link-protocol.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "lib/stanza.h"
#include "lib/wire.h"

static struct wire_str ws(const char *s)
{
	return (struct wire_str){s, (uint32_t)strlen(s)};
}

static int str_is(struct wire_str s, const char *c)
{
	return wire_str_eq(s, c);
}

/* Parses exactly one whole frame from the buffer's head. */
static long parse_head(const struct buf *b, struct wire_frame *f)
{
	return wire_parse((const uint8_t *)buf_head(b), buf_avail(b), f);
}

static void test_hello(void)
{
	struct buf b = {0};
	struct wire_frame f;
	CHECK(wire_put_hello(&b, "cm") == 0);
	static const uint8_t want[] = {0, 0, 0, 22, WIRE_HELLO, 0, 0, 0, 0, 0, 0, 0,
				       0, 0, 0, WIRE_VERSION, 0, 0, 0, 2, 'c', 'm'};
	CHECK(buf_avail(&b) == sizeof want && !memcmp(buf_head(&b), want, sizeof want));
	CHECK(parse_head(&b, &f) == 22);
	CHECK(f.type == WIRE_HELLO && f.flags == 0 && f.sid == 0 && f.plen == 10);
	uint32_t v = 0;
	struct wire_str name;
	CHECK(wire_get_hello(&f, &v, &name) == 0);
	CHECK(v == WIRE_VERSION && str_is(name, "cm"));
	char *d = wire_strdup(name);
	CHECK_STR(d, "cm");
	free(d);
	buf_free(&b);
}

static void test_stanza(void)
{
	struct buf b = {0};
	struct wire_frame f;
	struct wire_stanza s = {1, 2, ws("id1"), ws("a@b/c"), ws("d@e"),
				ws("<message type='chat'><body>hi</body></message>")};
	struct wire_stanza g;
	CHECK(wire_put_stanza(&b, 0xdeadbeef, &s) == 0);
	long n = parse_head(&b, &f);
	CHECK(n > 0 && (size_t)n == buf_avail(&b));
	CHECK(f.type == WIRE_STANZA && f.sid == 0xdeadbeef);
	CHECK(wire_get_stanza(&f, &g) == 0);
	CHECK(g.kind == 1 && g.type == 2);
	CHECK(str_is(g.id, "id1") && str_is(g.from, "a@b/c") && str_is(g.to, "d@e"));
	CHECK(str_is(g.xml, "<message type='chat'><body>hi</body></message>"));
	buf_free(&b);
	/* Empty optional fields (NULL pointers with length 0) travel as empty. */
	struct wire_stanza e = {3, 0, {NULL, 0}, {NULL, 0}, {NULL, 0}, ws("<iq/>")};
	CHECK(wire_put_stanza(&b, 7, &e) == 0);
	CHECK(parse_head(&b, &f) > 0 && wire_get_stanza(&f, &g) == 0);
	CHECK(g.id.len == 0 && g.from.len == 0 && g.to.len == 0 && str_is(g.xml, "<iq/>"));
	buf_free(&b);
	/* A stanza frame without XML is refused when written. */
	e.xml = (struct wire_str){NULL, 0};
	CHECK(wire_put_stanza(&b, 7, &e) == -EINVAL && buf_avail(&b) == 0);
	/* ... and when read (hand-made frame: kind, type, 4 empty strings). */
	struct wire_writer w;
	wire_begin(&w, &b, WIRE_STANZA, 7);
	wire_put_u8(&w, 3);
	wire_put_u8(&w, 0);
	for (int i = 0; i < 4; i++)
		wire_put_str(&w, "", 0);
	CHECK(wire_end(&w) == 0);
	CHECK(parse_head(&b, &f) > 0 && wire_get_stanza(&f, &g) == -EPROTO);
	buf_free(&b);
	/* NUL in any string field is malformed: neither XML nor JIDs hold it. */
	const char nul_to[] = "alice@x\0yz";
	const char nul_xml[] = "\0<message/>";
	struct wire_stanza bad[] = {
	    {1, 0, ws("i"), ws("a@b/c"), {nul_to, sizeof nul_to - 1}, ws("<message/>")},
	    {1, 0, ws("i"), ws("a@b/c"), ws("d@e"), {nul_xml, sizeof nul_xml - 1}},
	};
	for (int i = 0; i < 2; i++) {
		CHECK(wire_put_stanza(&b, 7, &bad[i]) == 0);
		CHECK(parse_head(&b, &f) > 0 && wire_get_stanza(&f, &g) == -EPROTO);
		buf_free(&b);
	}
}

static void test_cred(void)
{
	struct buf b = {0};
	struct wire_frame f;
	struct wire_cred_entry e[2] = {
	    {WIRE_HASH_SHA1, ws("salt1"), 4096, ws("stored1"), ws("server1")},
	    {WIRE_HASH_SHA256, ws("salt-two"), 10000, ws("stored-two"), ws("server-two")},
	}, g[WIRE_MAX_CREDS];
	uint8_t st = 99;
	unsigned n = 99;
	struct wire_str gu;
	CHECK(wire_put_cred(&b, 5, WIRE_CRED_OK, ws("juliet"), e, 2) == 0);
	CHECK(parse_head(&b, &f) > 0 && f.type == WIRE_CRED && f.sid == 5);
	CHECK(wire_get_cred(&f, &st, &gu, g, &n) == 0);
	CHECK(st == WIRE_CRED_OK && n == 2 && str_is(gu, "juliet"));
	CHECK(g[0].hash == WIRE_HASH_SHA1 && g[0].iter == 4096 && str_is(g[0].salt, "salt1"));
	CHECK(str_is(g[0].stored_key, "stored1") && str_is(g[0].server_key, "server1"));
	CHECK(g[1].hash == WIRE_HASH_SHA256 && g[1].iter == 10000);
	CHECK(str_is(g[1].salt, "salt-two") && str_is(g[1].stored_key, "stored-two") &&
	      str_is(g[1].server_key, "server-two"));
	buf_free(&b);
	CHECK(wire_put_cred(&b, 6, WIRE_CRED_NO_USER, (struct wire_str){"u", 1}, NULL, 0) == 0);
	CHECK(parse_head(&b, &f) > 0 && wire_get_cred(&f, &st, &gu, g, &n) == 0);
	CHECK(st == WIRE_CRED_NO_USER && n == 0);
	buf_free(&b);
	/* Version 5: a third entry, the DIGEST-MD5 hash, with no salt. */
	struct wire_cred_entry three[4] = {e[0], e[1],
					   {WIRE_HASH_DIGEST_MD5, ws(""), 0, ws("0123456789abcdef"), ws("")},
					   e[0]};
	CHECK(wire_put_cred(&b, 6, WIRE_CRED_OK, (struct wire_str){"u", 1}, three, 3) == 0);
	CHECK(parse_head(&b, &f) > 0 && wire_get_cred(&f, &st, &gu, g, &n) == 0 && n == 3);
	CHECK(g[2].hash == WIRE_HASH_DIGEST_MD5 && str_is(g[2].stored_key, "0123456789abcdef"));
	CHECK(g[2].salt.len == 0 && g[2].server_key.len == 0 && g[2].iter == 0);
	buf_free(&b);
	/* More entries than WIRE_MAX_CREDS must not overflow the caller's array. */
	CHECK(wire_put_cred(&b, 6, WIRE_CRED_OK, (struct wire_str){"u", 1}, three, 4) == 0);
	CHECK(parse_head(&b, &f) > 0 && wire_get_cred(&f, &st, &gu, g, &n) == -EPROTO);
	buf_free(&b);
}

static void test_small_frames(void)
{
	struct buf b = {0};
	struct wire_frame f;
	struct wire_reader r;
	CHECK(wire_put_u8_frame(&b, WIRE_SESSION_CLOSE, 42, WIRE_CLOSE_CONFLICT) == 0);
	CHECK(wire_put_str_frame(&b, WIRE_CRED_REQ, 43, "juliet") == 0);
	CHECK(wire_put_str_frame(&b, WIRE_SESSION_OPEN, 44, NULL) == 0);
	long n = parse_head(&b, &f);
	CHECK(n == WIRE_HDR_LEN + 1 && f.type == WIRE_SESSION_CLOSE && f.sid == 42);
	wire_reader_init(&r, &f);
	CHECK(wire_get_u8(&r) == WIRE_CLOSE_CONFLICT && r.err == 0 && r.p == r.end);
	buf_consume(&b, (size_t)n);
	n = parse_head(&b, &f);
	CHECK(n == WIRE_HDR_LEN + 4 + 6 && f.type == WIRE_CRED_REQ && f.sid == 43);
	wire_reader_init(&r, &f);
	struct wire_str s = wire_get_str(&r);
	CHECK(r.err == 0 && str_is(s, "juliet"));
	buf_consume(&b, (size_t)n);
	n = parse_head(&b, &f);
	CHECK(n == WIRE_HDR_LEN + 4 && f.type == WIRE_SESSION_OPEN && f.sid == 44);
	wire_reader_init(&r, &f);
	s = wire_get_str(&r);
	CHECK(r.err == 0 && s.len == 0);
	buf_consume(&b, (size_t)n);
	CHECK(b.data == NULL && buf_avail(&b) == 0); /* emptied buffers own nothing */
	/* A u32 frame written by hand with the generic writer. */
	struct wire_writer w;
	wire_begin(&w, &b, WIRE_PING, 0);
	wire_put_u32(&w, 0x01020304);
	CHECK(wire_end(&w) == 0);
	CHECK(parse_head(&b, &f) == WIRE_HDR_LEN + 4 && f.type == WIRE_PING);
	wire_reader_init(&r, &f);
	CHECK(wire_get_u32(&r) == 0x01020304 && r.err == 0);
	CHECK(!memcmp(f.payload, "\x01\x02\x03\x04", 4)); /* big-endian */
	buf_free(&b);
	/* The typed helper writes the same bytes. */
	CHECK(wire_put_u32_frame(&b, WIRE_PONG, 9, 0x01020304) == 0);
	CHECK(parse_head(&b, &f) == WIRE_HDR_LEN + 4 && f.type == WIRE_PONG && f.sid == 9);
	CHECK(!memcmp(f.payload, "\x01\x02\x03\x04", 4));
	buf_free(&b);
}

/* Every proper prefix of a frame asks for more bytes. */
static void test_partial(void)
{
	struct buf b = {0};
	struct wire_frame f;
	struct wire_stanza s = {1, 1, ws("x"), ws("f"), ws("t"), ws("<presence/>")};
	CHECK(wire_put_stanza(&b, 1, &s) == 0);
	size_t len = buf_avail(&b);
	int ok = 1;
	for (size_t i = 0; i < len; i++)
		if (wire_parse((const uint8_t *)buf_head(&b), i, &f) != 0)
			ok = 0;
	CHECK(ok);
	CHECK(wire_parse((const uint8_t *)buf_head(&b), len, &f) == (long)len);
	/* Trailing bytes of the next frame do not change the answer. */
	CHECK(wire_put_hello(&b, "core") == 0);
	CHECK(parse_head(&b, &f) == (long)len && f.type == WIRE_STANZA);
	buf_free(&b);
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void test_bad_lengths(void)
{
	uint8_t h[WIRE_HDR_LEN + 4] = {0};
	struct wire_frame f;
	const uint32_t bad[] = {0, 1, WIRE_HDR_LEN - 1, WIRE_MAX_FRAME + 1, 0xffffffffu};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		put_be32(h, bad[i]);
		CHECK(wire_parse(h, sizeof h, &f) == -EPROTO);
		CHECK(wire_parse(h, WIRE_HDR_LEN, &f) == -EPROTO);
		CHECK(wire_parse(h, WIRE_HDR_LEN - 1, &f) == 0); /* header incomplete */
	}
	put_be32(h, WIRE_HDR_LEN); /* empty payload is fine */
	h[4] = WIRE_FLOW;
	CHECK(wire_parse(h, sizeof h, &f) == WIRE_HDR_LEN && f.plen == 0 && f.type == WIRE_FLOW);
	put_be32(h, WIRE_MAX_FRAME); /* largest allowed: waits for the bytes */
	CHECK(wire_parse(h, sizeof h, &f) == 0);
}

/* Typed getters on frames whose payload is cut short must fail, never read past. */
static void test_truncated(void)
{
	struct buf b = {0};
	struct wire_frame f, t;
	struct wire_stanza s = {1, 1, ws("id"), ws("from"), ws("to"), ws("<message/>")}, g;
	struct wire_cred_entry e[2] = {{1, ws("s"), 1, ws("k1"), ws("k2")},
				       {2, ws("ss"), 2, ws("k3"), ws("k4")}}, ge[2];
	uint8_t st;
	unsigned n;
	struct wire_str gu;
	int ok = 1;
	CHECK(wire_put_stanza(&b, 1, &s) == 0);
	CHECK(parse_head(&b, &f) > 0);
	/* Drop bytes from the end, including into the last string's length. */
	for (uint32_t cut = 1; cut <= f.plen; cut++) {
		t = f;
		t.plen = f.plen - cut;
		uint8_t *copy = malloc(t.plen + 1); /* exact size so ASan sees overreads */
		memcpy(copy, f.payload, t.plen);
		t.payload = copy;
		if (wire_get_stanza(&t, &g) != -EPROTO)
			ok = 0;
		free(copy);
	}
	CHECK(ok);
	buf_free(&b);
	CHECK(wire_put_cred(&b, 1, 0, (struct wire_str){"u", 1}, e, 2) == 0);
	CHECK(parse_head(&b, &f) > 0);
	ok = 1;
	for (uint32_t cut = 1; cut <= f.plen; cut++) {
		t = f;
		t.plen = f.plen - cut;
		uint8_t *copy = malloc(t.plen + 1);
		memcpy(copy, f.payload, t.plen);
		t.payload = copy;
		if (wire_get_cred(&t, &st, &gu, ge, &n) != -EPROTO)
			ok = 0;
		free(copy);
	}
	CHECK(ok);
	buf_free(&b);
	/* A string length larger than what is left; errors are sticky. */
	uint8_t p[] = {0x7f, 0xff, 0xff, 0xff, 'a', 'b', 0, 0, 0, 1};
	struct wire_frame h = {WIRE_HELLO, 0, 0, p, sizeof p};
	struct wire_reader r;
	wire_reader_init(&r, &h);
	struct wire_str x = wire_get_str(&r);
	CHECK(r.err == -EPROTO && x.len == 0 && x.p != NULL);
	CHECK(wire_get_u32(&r) == 0 && r.err == -EPROTO); /* would be valid, but sticky */
	uint32_t v;
	struct wire_str name;
	h.plen = 3;
	CHECK(wire_get_hello(&h, &v, &name) == -EPROTO);
	h.plen = 4; /* version only, no name */
	CHECK(wire_get_hello(&h, &v, &name) == -EPROTO);
	uint8_t q[] = {0, 0, 0, 1, 0, 0, 0, 3, 'a', 'b'}; /* name one byte short */
	h.payload = q, h.plen = sizeof q;
	CHECK(wire_get_hello(&h, &v, &name) == -EPROTO);
	h.plen = 0;
	wire_reader_init(&r, &h);
	CHECK(wire_get_u8(&r) == 0 && r.err == -EPROTO);
}

static char *render(const char *xml, const char *from, const char *to, int *rc)
{
	struct buf out = {0};
	struct wire_stanza s = {0, 0, ws(""), ws(from), ws(to), ws(xml)};
	*rc = wire_stanza_render(&out, &s);
	/* An empty buf has no storage: keep wire_strdup() away from a NULL pointer. */
	const char *p = buf_avail(&out) ? buf_head(&out) : "";
	char *r = wire_strdup((struct wire_str){p, (uint32_t)buf_avail(&out)});
	buf_free(&out);
	return r;
}

static void test_render(void)
{
	static const struct {
		const char *xml, *from, *to, *want;
	} cases[] = {
	    {"<message type='chat'><body>hi</body></message>", "a@b/c", "d@e",
	     "<message from=\"a@b/c\" to=\"d@e\" type='chat'><body>hi</body></message>"},
	    {"<iq/>", "a@b", "c", "<iq from=\"a@b\" to=\"c\"/>"},
	    {"<iq type='get' id='1'/>", "", "c", "<iq to=\"c\" type='get' id='1'/>"},
	    {"<presence>", "a@b/r", "", "<presence from=\"a@b/r\">"},
	    {"<presence/>", "", "", "<presence/>"},
	    {"<message\n type='x'/>", "f", "t", "<message from=\"f\" to=\"t\"\n type='x'/>"},
	    {"<message\ttype='x'/>", "f", "", "<message from=\"f\"\ttype='x'/>"},
	    {"<a", "f", "t", "<a from=\"f\" to=\"t\""},
	    /* Escaping of the spliced values: & < > " ' */
	    {"<message/>", "a&b@c/\"r\"", "x<y>'z'",
	     "<message from=\"a&amp;b@c/&quot;r&quot;\" to=\"x&lt;y&gt;&apos;z&apos;\"/>"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		int rc;
		char *r = render(cases[i].xml, cases[i].from, cases[i].to, &rc);
		CHECK(rc == 0);
		CHECK_STR(r, cases[i].want);
		free(r);
	}
	static const char *bad[] = {"", "<", "x", "message/>"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		int rc;
		char *r = render(bad[i], "f", "t", &rc);
		CHECK(rc == -EPROTO);
		CHECK_STR(r, ""); /* nothing written */
		free(r);
	}
	/* Rendering appends to what is already in the output buffer. */
	struct buf out = {0};
	struct wire_stanza s = {0, 0, ws(""), ws("f"), ws(""), ws("<iq/>")};
	CHECK(buf_append_str(&out, "<x/>") == 0);
	CHECK(wire_stanza_render(&out, &s) == 0);
	CHECK(buf_avail(&out) == 18 && !memcmp(buf_head(&out), "<x/><iq from=\"f\"/>", 18));
	buf_free(&out);
}

/* An error inside a frame drops that frame and keeps the ones before it. */
static void test_end_drops(void)
{
	struct buf b = {0};
	struct wire_writer w;
	struct wire_frame f;
	CHECK(wire_put_hello(&b, "cm") == 0);
	size_t before = buf_avail(&b);
	wire_begin(&w, &b, WIRE_STANZA, 9);
	wire_put_u8(&w, 1);
	wire_put_str(&w, "x", (size_t)WIRE_MAX_FRAME + 1); /* refused before reading p */
	wire_put_u8(&w, 2);				    /* ignored after the error */
	int rc = wire_end(&w);
	CHECK(rc < 0);
	CHECK(buf_avail(&b) == before);
	CHECK(parse_head(&b, &f) == (long)before && f.type == WIRE_HELLO);
	/* A frame whose total passes WIRE_MAX_FRAME is dropped too. */
	char *big = calloc(1, WIRE_MAX_FRAME);
	wire_begin(&w, &b, WIRE_STANZA, 9);
	wire_put_str(&w, big, WIRE_MAX_FRAME - WIRE_HDR_LEN - 3);
	CHECK(wire_end(&w) < 0);
	CHECK(buf_avail(&b) == before);
	/* One byte less is exactly WIRE_MAX_FRAME and goes through. */
	wire_begin(&w, &b, WIRE_STANZA, 9);
	wire_put_str(&w, big, WIRE_MAX_FRAME - WIRE_HDR_LEN - 4);
	CHECK(wire_end(&w) == 0);
	CHECK(buf_avail(&b) == before + WIRE_MAX_FRAME);
	buf_consume(&b, before);
	CHECK(parse_head(&b, &f) == WIRE_MAX_FRAME && f.sid == 9);
	free(big);
	buf_free(&b);
}

/* Frames begun after buf_consume() left a read offset: when the buffer is
 * full, buf_reserve() moves the unread bytes to the front in the middle of a
 * frame, and wire_end() must still patch the right length field. */
static void test_after_consume(void)
{
	struct buf b = {0};
	struct wire_frame f;
	char xml[160];
	memset(xml, 'a', sizeof xml);
	memcpy(xml, "<message>", 9);
	struct wire_stanza big = {1, 1, ws(""), ws(""), ws(""), {xml, sizeof xml}};
	struct wire_stanza mid = {2, 2, ws("id"), ws("from@x"), ws("to@y"), {xml, 60}}, g;
	CHECK(wire_put_stanza(&b, 1, &big) == 0); /* 12 + 2 + 16 + 160 = 190 */
	CHECK(wire_put_hello(&b, "cm") == 0);	   /* 22: 212 of 256 */
	CHECK(b.cap == 256);
	long n = parse_head(&b, &f);
	CHECK(n == 190);
	buf_consume(&b, (size_t)n);
	CHECK(b.off == 190);
	CHECK(wire_put_stanza(&b, 77, &mid) == 0); /* 12 + 2 + 16 + 2 + 6 + 4 + 60 = 102 */
	CHECK(b.off == 0 && b.cap == 256);	    /* moved, not grown */
	n = parse_head(&b, &f);
	CHECK(n == 22 && f.type == WIRE_HELLO);
	buf_consume(&b, (size_t)n);
	n = parse_head(&b, &f);
	CHECK(n == 102 && f.type == WIRE_STANZA && f.sid == 77);
	CHECK(wire_get_stanza(&f, &g) == 0 && g.kind == 2 && str_is(g.id, "id") &&
	      str_is(g.from, "from@x") && str_is(g.to, "to@y") && g.xml.len == 60 &&
	      !memcmp(g.xml.p, xml, 60));
	buf_consume(&b, (size_t)n);
	CHECK(b.data == NULL);
	/* A run of frames through a small window of consumes and appends. */
	int ok = 1;
	for (uint32_t i = 0; i < 200; i++) {
		char name[32];
		snprintf(name, sizeof name, "frame-%u-%.*s", i, (int)(i % 17), "xxxxxxxxxxxxxxxxx");
		if (wire_put_str_frame(&b, WIRE_CRED_REQ, i, name))
			ok = 0;
		if (i % 3 == 2) { /* read two of every three */
			for (int k = 0; k < 2; k++) {
				n = parse_head(&b, &f);
				struct wire_reader r;
				wire_reader_init(&r, &f);
				struct wire_str s = wire_get_str(&r);
				char want[32];
				snprintf(want, sizeof want, "frame-%u-%.*s", f.sid,
					 (int)(f.sid % 17), "xxxxxxxxxxxxxxxxx");
				if (n <= 0 || r.err || !str_is(s, want))
					ok = 0;
				buf_consume(&b, (size_t)n);
			}
		}
	}
	CHECK(ok);
	buf_free(&b);
}

static void test_strs(void)
{
	CHECK(wire_str_eq(ws("abc"), "abc"));
	CHECK(!wire_str_eq(ws("abc"), "ab"));
	CHECK(!wire_str_eq((struct wire_str){"abc", 2}, "abc"));
	CHECK(wire_str_eq((struct wire_str){"abc", 2}, "ab"));
	char *d = wire_strdup((struct wire_str){"a\0b", 3});
	CHECK(d && d[0] == 'a' && d[1] == 0 && d[2] == 'b' && d[3] == 0);
	free(d);
}

/* STANZA_MULTI: one stanza, destinations with their own 'to' or none; a
 * count the frame cannot hold, a cut destination or a NUL is refused. */
static void test_multi(void)
{
	struct buf b = {0}, d = {0};
	struct wire_stanza s = {.kind = STANZA_PRESENCE, .type = STANZA_T_NONE,
				.from = {"a@x/r", 5}, .to = {"b@x", 3}, .xml = {"<presence/>", 11}};
	CHECK(wire_put_dest(&d, 7, "b@x/one", 7) == 0 && wire_put_dest(&d, 9, "", 0) == 0);
	CHECK(wire_put_stanza_multi(&b, &s, 0, &d) == -EINVAL);
	CHECK(wire_put_stanza_multi(&b, &s, 2, &d) == 0);
	struct wire_frame f;
	struct wire_stanza g;
	struct wire_reader r;
	uint32_t n, sid;
	struct wire_str to;
	CHECK(parse_head(&b, &f) == (long)buf_avail(&b) && f.type == WIRE_STANZA_MULTI && !f.sid);
	CHECK(wire_get_stanza_multi(&f, &g, &n, &r) == 0 && n == 2);
	CHECK(str_is(g.from, "a@x/r") && str_is(g.to, "b@x") && str_is(g.xml, "<presence/>"));
	wire_get_dest(&r, &sid, &to);
	CHECK(!r.err && sid == 7 && str_is(to, "b@x/one"));
	wire_get_dest(&r, &sid, &to);
	CHECK(!r.err && sid == 9 && to.len == 0 && r.p == r.end);
	/* A destination cut short. */
	struct buf big = {0}, cut = {0};
	static const char half[6] = {0, 0, 0, 9, 0, 0};
	CHECK(wire_put_dest(&cut, 7, "b@x/one", 7) == 0 && buf_append(&cut, half, 6) == 0);
	CHECK(wire_put_stanza_multi(&big, &s, 2, &cut) == 0);
	CHECK(parse_head(&big, &f) > 0 && wire_get_stanza_multi(&f, &g, &n, &r) == 0 && n == 2);
	wire_get_dest(&r, &sid, &to);
	CHECK(!r.err);
	wire_get_dest(&r, &sid, &to);
	CHECK(r.err == -EPROTO);
	buf_free(&big);
	buf_free(&cut);
	/* A count larger than the bytes left could hold. */
	CHECK(wire_put_stanza_multi(&big, &s, 3, &d) == 0);
	CHECK(parse_head(&big, &f) > 0 && wire_get_stanza_multi(&f, &g, &n, &r) == -EPROTO);
	buf_free(&big);
	CHECK(wire_put_stanza_multi(&big, &s, 1000, &d) == 0);
	CHECK(parse_head(&big, &f) > 0 && wire_get_stanza_multi(&f, &g, &n, &r) == -EPROTO);
	buf_free(&big);
	buf_free(&d);
	CHECK(wire_put_dest(&d, 1, "x\0y", 3) == 0 && wire_put_stanza_multi(&big, &s, 1, &d) == 0);
	CHECK(parse_head(&big, &f) > 0 && wire_get_stanza_multi(&f, &g, &n, &r) == 0);
	wire_get_dest(&r, &sid, &to);
	CHECK(r.err == -EPROTO);
	buf_free(&big);
	buf_free(&d);
	buf_free(&b);
}

/* KICK's condition byte: RFC 6120 §4.9.3's names by index, and nothing else. */
static void test_conditions(void)
{
	CHECK(wire_condition("bad-format", 10) == 0);
	CHECK(wire_condition("policy-violation", 16) == 13);
	CHECK(wire_condition("unsupported-version", 19) == WIRE_CONDITION_COUNT - 1);
	CHECK(!strcmp(wire_conditions[wire_condition("resource-constraint", 19)],
		      "resource-constraint"));
	CHECK(wire_condition("policy-violatio", 15) == -1);
	CHECK(wire_condition("policy-violation!", 17) == -1);
	CHECK(wire_condition("", 0) == -1);
}

/* TRACE: up to four 64-bit times survive the trip; anything else is refused. */
static void test_trace(void)
{
	struct buf b = {0};
	uint64_t t[WIRE_TRACE_MAX] = {1, 0x0123456789abcdefull, UINT64_MAX, 42}, got[WIRE_TRACE_MAX];
	struct wire_frame f;
	CHECK(wire_put_trace(&b, 7, t, WIRE_TRACE_MAX) == 0);
	CHECK(wire_parse((const uint8_t *)buf_head(&b), buf_avail(&b), &f) > 0);
	CHECK(f.type == WIRE_TRACE && f.sid == 7 && f.plen == 1 + 8 * WIRE_TRACE_MAX);
	CHECK(wire_get_trace(&f, got) == WIRE_TRACE_MAX && !memcmp(got, t, sizeof t));
	CHECK(wire_put_trace(&b, 7, t, 0) == -EINVAL && wire_put_trace(&b, 7, t, 5) == -EINVAL);
	/* A count that promises more than the payload holds, or less. */
	f.plen -= 8;
	CHECK(wire_get_trace(&f, got) == -EPROTO);
	buf_free(&b);
	CHECK(wire_put_trace(&b, 1, t, 2) == 0);
	CHECK(wire_parse((const uint8_t *)buf_head(&b), buf_avail(&b), &f) > 0);
	CHECK(wire_get_trace(&f, got) == 2 && got[1] == t[1]);
	uint8_t zero[WIRE_HDR_LEN + 1] = {0, 0, 0, WIRE_HDR_LEN + 1, WIRE_TRACE};
	CHECK(wire_parse(zero, sizeof zero, &f) > 0 && wire_get_trace(&f, got) == -EPROTO);
	buf_free(&b);
}

/* SESSION_PARK and SESSION_UNPARKED: the counters and the queue both ways;
 * a queue that is not exactly n STANZA_RETURN frames is refused. */
static void test_park(void)
{
	struct wire_stanza st = {STANZA_MESSAGE, STANZA_T_CHAT, ws("i"), ws("a@x/r"), ws("b@x/s"),
				 ws("<message><body>hi</body></message>")};
	struct buf q = {0}, b = {0};
	CHECK(wire_put_stanza_return(&q, &st) == 0 && wire_put_stanza_return(&q, &st) == 0);
	struct wire_park p = {.token = ws("secret"), .secs = 300, .h_in = 7, .acked = UINT32_MAX,
			      .n = 2, .q = {buf_head(&q), (uint32_t)buf_avail(&q)}}, g;
	struct wire_frame f;
	uint8_t status;
	CHECK(wire_put_park(&b, 5, &p) == 0 && parse_head(&b, &f) > 0);
	CHECK(f.type == WIRE_SESSION_PARK && f.sid == 5 && wire_get_park(&f, &g) == 0);
	CHECK(str_is(g.token, "secret") && g.secs == 300 && g.h_in == 7 && g.acked == UINT32_MAX &&
	      g.n == 2 && g.q.len == buf_avail(&q) && !memcmp(g.q.p, buf_head(&q), g.q.len));
	buf_free(&b);
	p.jid = ws("b@x/s");
	CHECK(wire_put_unparked(&b, 6, 0, &p) == 0 && parse_head(&b, &f) > 0);
	CHECK(wire_get_unparked(&f, &status, &g) == 0 && status == 0 && str_is(g.jid, "b@x/s") &&
	      g.n == 2 && g.h_in == 7 && g.q.len == buf_avail(&q));
	buf_free(&b);
	CHECK(wire_put_unparked(&b, 6, 1, &p) == 0 && parse_head(&b, &f) > 0);
	CHECK(wire_get_unparked(&f, &status, &g) == 0 && status == 1 && !g.jid.len && !g.n);
	buf_free(&b);
	static const uint32_t wrong[] = {1, 3}; /* one frame short, one too many */
	for (unsigned i = 0; i < 2; i++) {
		p.n = wrong[i];
		CHECK(wire_put_park(&b, 5, &p) == 0 && parse_head(&b, &f) > 0);
		CHECK(wire_get_park(&f, &g) == -EPROTO);
		buf_free(&b);
	}
	p.n = 2;
	p.q.len--; /* a torn last frame */
	CHECK(wire_put_park(&b, 5, &p) == 0 && parse_head(&b, &f) > 0);
	CHECK(wire_get_park(&f, &g) == -EPROTO);
	buf_free(&b);
	struct buf other = {0}; /* a frame of another type in the queue */
	CHECK(wire_put_stanza(&other, 1, &st) == 0);
	p.n = 1;
	p.q = (struct wire_str){buf_head(&other), (uint32_t)buf_avail(&other)};
	CHECK(wire_put_park(&b, 5, &p) == 0 && parse_head(&b, &f) > 0);
	CHECK(wire_get_park(&f, &g) == -EPROTO);
	CHECK(wire_stanza_returnable(&st));
	st.kind = STANZA_PRESENCE;
	CHECK(!wire_stanza_returnable(&st));
	buf_free(&b);
	buf_free(&q);
	buf_free(&other);
}

int main(void)
{
	test_conditions();
	test_multi();
	test_hello();
	test_stanza();
	test_cred();
	test_small_frames();
	test_partial();
	test_bad_lengths();
	test_truncated();
	test_render();
	test_end_drops();
	test_after_consume();
	test_strs();
	test_trace();
	test_park();
	CHECK_DONE();
}
