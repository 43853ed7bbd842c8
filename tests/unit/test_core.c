/* The routing core driven through in-memory links (no sockets): frames go in
 * with link_feed(), the replies are read back from the links' output. */
#include <libxml/parser.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/caps.h"
#include "core/caps_ver.h"
#include "core/fanout.h"
#include "core/core.h"
#include "core/link.h"
#include "core/park.h"
#include "lib/stanza.h"
#include "tests/unit/check.h"

#define DOMAIN "example.com"
#define OTHER "other.example" /* a second hosted domain */

static void feed(struct core *c, struct link *l, struct buf *b)
{
	link_feed(c, l, buf_head(b), buf_avail(b));
	buf_free(b);
}

static void send_hello(struct core *c, struct link *l)
{
	struct buf b = {0};
	wire_put_hello(&b, "test");
	feed(c, l, &b);
}

/* An in-memory link that has said HELLO. */
/* The end of a test's link: the test played a cm that read and acknowledged
 * everything (lib/linkack.h), so nothing is routed again. */
static void close_link(struct core *c, struct link *l)
{
	linkack_reset(&l->ack);
	link_close(c, l);
}

static struct link *hello_link(struct core *c)
{
	struct link *l = link_new(c, -1, "mem");
	send_hello(c, l);
	return l;
}

static void send_open(struct core *c, struct link *l, uint32_t sid, const char *jid)
{
	struct buf b = {0};
	wire_put_str_frame(&b, WIRE_SESSION_OPEN, sid, jid);
	feed(c, l, &b);
}

static void send_stanza(struct core *c, struct link *l, uint32_t sid, uint8_t kind,
			uint8_t type, const char *id, const char *from, const char *to,
			const char *xml)
{
	struct buf b = {0};
	struct wire_stanza s = {kind, type, core_wstr(id), core_wstr(from), core_wstr(to),
				core_wstr(xml)};
	wire_put_stanza(&b, sid, &s);
	feed(c, l, &b);
}

/* Rewrites l's output with each STANZA_MULTI frame as the STANZA frames it
 * stands for, so that the tests see one stanza per session either way. */
static void expand_multi(struct link *l)
{
	struct buf out = {0}, frame = {0};
	struct wire_frame f;
	long n;
	while ((n = wire_parse((const uint8_t *)buf_head(&l->out), buf_avail(&l->out), &f)) > 0) {
		buf_append(&frame, buf_head(&l->out), (size_t)n);
		buf_consume(&l->out, (size_t)n);
		wire_parse((const uint8_t *)buf_head(&frame), buf_avail(&frame), &f);
		struct wire_stanza s;
		struct wire_reader r;
		uint32_t cnt, sid;
		struct wire_str to, all;
		if (f.type != WIRE_STANZA_MULTI) {
			buf_append(&out, buf_head(&frame), buf_avail(&frame));
		} else if (!wire_get_stanza_multi(&f, &s, &cnt, &r)) {
			all = s.to;
			for (uint32_t i = 0; i < cnt && !r.err; i++) {
				wire_get_dest(&r, &sid, &to);
				s.to = to.len ? to : all;
				CHECK(!r.err && wire_put_stanza(&out, sid, &s) == 0);
			}
		} else
			CHECK(!"undecodable STANZA_MULTI");
		buf_free(&frame);
	}
	buf_append(&out, buf_head(&l->out), buf_avail(&l->out));
	buf_free(&l->out);
	l->out = out;
}

/* Pops the next frame of the given type from l's output (skipping others);
 * the stanza fields point into *keep, which the caller frees. */
static int next_frame(struct link *l, uint8_t type, struct wire_frame *f, struct buf *keep)
{
	expand_multi(l);
	for (;;) {
		long n = wire_parse((const uint8_t *)buf_head(&l->out), buf_avail(&l->out), f);
		if (n <= 0)
			return -1;
		buf_free(keep);
		buf_append(keep, buf_head(&l->out), (size_t)n);
		buf_consume(&l->out, (size_t)n);
		wire_parse((const uint8_t *)buf_head(keep), buf_avail(keep), f);
		if (f->type == type)
			return 0;
	}
}

static int next_stanza(struct link *l, struct wire_stanza *s, uint32_t *sid, struct buf *keep)
{
	struct wire_frame f;
	if (next_frame(l, WIRE_STANZA, &f, keep) || wire_get_stanza(&f, s))
		return -1;
	*sid = f.sid;
	return 0;
}

static int has_str(struct wire_str s, const char *needle)
{
	size_t n = strlen(needle);
	for (uint32_t i = 0; i + n <= s.len; i++)
		if (!memcmp(s.p + i, needle, n))
			return 1;
	return 0;
}

static void test_routing(struct core *c)
{
	struct link *l = link_new(c, -1, "mem");
	struct wire_frame f;
	struct wire_stanza s;
	struct buf keep = {0};
	uint32_t sid;
	CHECK(next_frame(l, WIRE_HELLO, &f, &keep) == 0);
	send_hello(c, l);
	CHECK(l->hello_rx && !l->dead);
	send_open(c, l, 1, "alice@" DOMAIN "/a");
	send_open(c, l, 2, "alice@" DOMAIN "/b");
	send_open(c, l, 3, "bob@" DOMAIN "/x");
	send_open(c, l, 4, "eve@elsewhere.org/x");
	int opened = 0, refused = 0;
	while (!next_frame(l, WIRE_SESSION_OPENED, &f, &keep))
		f.payload[0] ? refused++ : opened++;
	CHECK(opened == 3 && refused == 1);

	/* Priorities 1 and 3: a bare-JID chat goes to the highest only. */
	send_stanza(c, l, 1, STANZA_PRESENCE, STANZA_T_NONE, "", "alice@" DOMAIN "/a", "",
		    "<presence><priority>1</priority></presence>");
	send_stanza(c, l, 2, STANZA_PRESENCE, STANZA_T_NONE, "", "alice@" DOMAIN "/b", "",
		    "<presence><priority>3</priority></presence>");
	buf_free(&l->out);
	send_stanza(c, l, 3, STANZA_MESSAGE, STANZA_T_CHAT, "m1", "bob@" DOMAIN "/x",
		    "alice@" DOMAIN, "<message type=\"chat\"><body>x</body></message>");
	CHECK(next_stanza(l, &s, &sid, &keep) == 0 && sid == 2 && wire_str_eq(s.id, "m1"));
	CHECK(next_stanza(l, &s, &sid, &keep) == -1);
	/* headline: every non-negative resource */
	send_stanza(c, l, 3, STANZA_MESSAGE, STANZA_T_HEADLINE, "h", "bob@" DOMAIN "/x",
		    "alice@" DOMAIN, "<message type=\"headline\"/>");
	CHECK(next_stanza(l, &s, &sid, &keep) == 0);
	CHECK(next_stanza(l, &s, &sid, &keep) == 0);
	/* groupchat to a bare JID bounces; the error is not itself bounced */
	send_stanza(c, l, 3, STANZA_MESSAGE, STANZA_T_GROUPCHAT, "g\"1", "bob@" DOMAIN "/x",
		    "alice@" DOMAIN, "<message type=\"groupchat\"/>");
	CHECK(next_stanza(l, &s, &sid, &keep) == 0 && sid == 3 && s.type == STANZA_T_ERROR &&
	      has_str(s.xml, "id=\"g&quot;1\"") && has_str(s.xml, "service-unavailable") &&
	      wire_str_eq(s.from, "alice@" DOMAIN) && wire_str_eq(s.to, "bob@" DOMAIN "/x"));
	send_stanza(c, l, 3, STANZA_MESSAGE, STANZA_T_ERROR, "e", "bob@" DOMAIN "/x",
		    "nobody@" DOMAIN, "<message type=\"error\"/>");
	CHECK(next_stanza(l, &s, &sid, &keep) == -1);
	/* iq to a full JID without a session */
	send_stanza(c, l, 3, STANZA_IQ, STANZA_T_GET, "i", "bob@" DOMAIN "/x",
		    "alice@" DOMAIN "/zz", "<iq type=\"get\"><q xmlns=\"x\"/></iq>");
	CHECK(next_stanza(l, &s, &sid, &keep) == 0 && s.type == STANZA_T_ERROR);
	/* RFC 6121 §8.5.3.2.1: to a full JID without a session, a normal
	 * message bounces and a headline is dropped; neither reaches alice's
	 * sessions; a chat falls back to the bare JID (her top resource). */
	send_stanza(c, l, 3, STANZA_MESSAGE, STANZA_T_NORMAL, "n", "bob@" DOMAIN "/x",
		    "alice@" DOMAIN "/zz", "<message type=\"normal\"/>");
	CHECK(next_stanza(l, &s, &sid, &keep) == 0 && sid == 3 && s.type == STANZA_T_ERROR &&
	      has_str(s.xml, "<service-unavailable "));
	CHECK(next_stanza(l, &s, &sid, &keep) == -1);
	send_stanza(c, l, 3, STANZA_MESSAGE, STANZA_T_HEADLINE, "h2", "bob@" DOMAIN "/x",
		    "alice@" DOMAIN "/zz", "<message type=\"headline\"/>");
	CHECK(next_stanza(l, &s, &sid, &keep) == -1);
	send_stanza(c, l, 3, STANZA_MESSAGE, STANZA_T_CHAT, "c2", "bob@" DOMAIN "/x",
		    "alice@" DOMAIN "/zz", "<message type=\"chat\"/>");
	CHECK(next_stanza(l, &s, &sid, &keep) == 0 && sid == 2 && wire_str_eq(s.id, "c2"));
	CHECK(next_stanza(l, &s, &sid, &keep) == -1);
	/* RFC 6121 §8.5.1: a headline to no account is dropped */
	send_stanza(c, l, 3, STANZA_MESSAGE, STANZA_T_HEADLINE, "h3", "bob@" DOMAIN "/x",
		    "nobody@" DOMAIN, "<message type=\"headline\"/>");
	CHECK(next_stanza(l, &s, &sid, &keep) == -1);
	/* roster set: an invalid 'jid' is jid-malformed (RFC 6120 §8.3.3.8),
	 * a missing one bad-request (RFC 6121 §2.1.2.3) */
	send_stanza(c, l, 3, STANZA_IQ, STANZA_T_SET, "rj", "bob@" DOMAIN "/x", "",
		    "<iq type=\"set\"><query xmlns=\"jabber:iq:roster\"><item jid=\"a@b@c\"/>"
		    "</query></iq>");
	CHECK(next_stanza(l, &s, &sid, &keep) == 0 && has_str(s.xml, "<jid-malformed "));
	send_stanza(c, l, 3, STANZA_IQ, STANZA_T_SET, "rn", "bob@" DOMAIN "/x", "",
		    "<iq type=\"set\"><query xmlns=\"jabber:iq:roster\"><item/></query></iq>");
	CHECK(next_stanza(l, &s, &sid, &keep) == 0 && has_str(s.xml, "<bad-request "));
	/* RFC 6121 §2.3.3: someone else's roster is forbidden */
	send_stanza(c, l, 3, STANZA_IQ, STANZA_T_SET, "rs", "bob@" DOMAIN "/x", "alice@" DOMAIN,
		    "<iq type=\"set\"><query xmlns=\"jabber:iq:roster\"><item jid=\"a@b\"/>"
		    "</query></iq>");
	CHECK(next_stanza(l, &s, &sid, &keep) == 0 && has_str(s.xml, "<forbidden "));
	/* roster groups: duplicates => bad-request, empty => not-acceptable */
	static const char *const sets[][2] = {
		{"<group>A</group><group>A</group>", "<bad-request "},
		{"<group></group>", "<not-acceptable "},
		{"<group>A</group><group>B &amp; C</group>", "type=\"result\""},
	};
	for (size_t i = 0; i < 3; i++) {
		char xml[256];
		snprintf(xml, sizeof xml, "<iq type=\"set\"><query xmlns=\"jabber:iq:roster\">"
			 "<item jid=\"carol@" DOMAIN "\">%s</item></query></iq>", sets[i][0]);
		send_stanza(c, l, 3, STANZA_IQ, STANZA_T_SET, "g", "bob@" DOMAIN "/x", "", xml);
		CHECK(next_stanza(l, &s, &sid, &keep) == 0 && has_str(s.xml, sets[i][1]));
	}
	struct store_item it;
	CHECK(store_roster_get(c->store, "bob@" DOMAIN, "carol@" DOMAIN, &it) == 0);
	CHECK_STR(it.groups, "A\nB & C");
	store_item_free(&it);
	/* a stanza whose from is not the session's JID is dropped */
	send_stanza(c, l, 3, STANZA_MESSAGE, STANZA_T_CHAT, "f", "alice@" DOMAIN "/a",
		    "alice@" DOMAIN "/b", "<message/>");
	CHECK(next_stanza(l, &s, &sid, &keep) == -1);
	/* offline storage for bob when he has no available resource */
	send_stanza(c, l, 1, STANZA_MESSAGE, STANZA_T_CHAT, "o", "alice@" DOMAIN "/a",
		    "bob@" DOMAIN, "<message type=\"chat\"><body>later</body></message>");
	CHECK(next_stanza(l, &s, &sid, &keep) == -1);
	CHECK(store_offline_count(c->store, "bob@" DOMAIN) == 1);
	send_stanza(c, l, 3, STANZA_PRESENCE, STANZA_T_NONE, "", "bob@" DOMAIN "/x", "",
		    "<presence/>");
	int got = 0;
	while (!next_stanza(l, &s, &sid, &keep))
		got += s.kind == STANZA_MESSAGE && wire_str_eq(s.id, "o") &&
		       has_str(s.xml, "<body>later</body><delay xmlns=\"urn:xmpp:delay\"");
	CHECK(got == 1);
	CHECK(store_offline_count(c->store, "bob@" DOMAIN) == 0);
	/* PING => PONG with the token */
	struct buf b = {0};
	struct wire_writer w;
	wire_begin(&w, &b, WIRE_PING, 0);
	wire_put_u32(&w, 4242);
	wire_end(&w);
	feed(c, l, &b);
	CHECK(next_frame(l, WIRE_PONG, &f, &keep) == 0 && f.plen == 4 && f.payload[3] == 0x92);
	/* an unknown frame type closes the link */
	b = (struct buf){0};
	wire_put_u8_frame(&b, 99, 0, 0);
	feed(c, l, &b);
	CHECK(l->dead);
	buf_free(&keep);
	close_link(c, l);
	CHECK(c->users.n == 0 && c->links == NULL);
}

/* RFC 6121 §4.6.3: alice's directed availability to bob's resources is
 * withdrawn when her session ends, once per entity, for at most
 * SESSION_DIRECTED_MAX of them; her own other resource is not tracked. */
static void test_directed_presence(struct core *c)
{
	enum { NB = SESSION_DIRECTED_MAX + 6 };
	struct link *l = hello_link(c);
	struct wire_stanza s;
	struct buf keep = {0};
	uint32_t sid;
	send_open(c, l, 1, "alice@" DOMAIN "/a");
	send_open(c, l, 2, "alice@" DOMAIN "/b");
	char jid[64];
	for (uint32_t i = 0; i < NB; i++) {
		snprintf(jid, sizeof jid, "bob@" DOMAIN "/r%u", i);
		send_open(c, l, 10 + i, jid);
	}
	for (uint32_t i = 0; i < NB; i++) {
		snprintf(jid, sizeof jid, "bob@" DOMAIN "/r%u", i);
		for (int twice = 0; twice < 1 + (i == 0); twice++)
			send_stanza(c, l, 1, STANZA_PRESENCE, STANZA_T_NONE, "",
				    "alice@" DOMAIN "/a", jid, "<presence/>");
	}
	send_stanza(c, l, 1, STANZA_PRESENCE, STANZA_T_NONE, "", "alice@" DOMAIN "/a",
		    "alice@" DOMAIN "/b", "<presence/>");
	/* withdrawn by hand: r1 is not told again */
	send_stanza(c, l, 1, STANZA_PRESENCE, STANZA_T_UNAVAILABLE, "", "alice@" DOMAIN "/a",
		    "bob@" DOMAIN "/r1", "<presence type=\"unavailable\"/>");
	int avail = 0;
	while (!next_stanza(l, &s, &sid, &keep))
		avail += s.type == STANZA_T_NONE;
	CHECK(avail == NB + 2);
	struct session *a = session_by_sid(l, 1);
	CHECK(a && a->ndirected == SESSION_DIRECTED_MAX - 1);

	struct buf b = {0};
	wire_put_u8_frame(&b, WIRE_SESSION_CLOSE, 1, 0);
	feed(c, l, &b);
	int told = 0, r0 = 0, r1 = 0, own = 0;
	while (!next_stanza(l, &s, &sid, &keep)) {
		if (s.type != STANZA_T_UNAVAILABLE || !wire_str_eq(s.from, "alice@" DOMAIN "/a"))
			continue;
		told++;
		r0 += sid == 10;
		r1 += sid == 11;
		own += sid == 2;
	}
	/* the first SESSION_DIRECTED_MAX entities (r0, r2..r64), not r1 */
	CHECK(told == SESSION_DIRECTED_MAX - 1 && r0 == 1 && r1 == 0 && own == 0);
	buf_free(&keep);
	close_link(c, l);
	CHECK(c->users.n == 0);
}

/* starlingctl status: a cm worker's report is relayed with its name, lines
 * that are not "name digits" are dropped, the core's own figures move. */
static void test_stats(struct core *c)
{
	struct link *l = link_new(c, -1, "mem");
	struct buf b = {0}, keep = {0};
	struct wire_frame f;
	wire_put_hello(&b, "starling-cm/9/0 \"x\"");
	feed(c, l, &b);
	static const char report[] = "starling_cm_connections 7\n"
				     "Bad_Name 1\n"
				     "starling_cm_evil{x=\"y\"} 2\n"
				     "starling_cm_neg -3\n"
				     "starling_cm_accepted_total 12";
	struct wire_writer w;
	wire_begin(&w, &b, WIRE_CM_STATS, 0);
	wire_put_str(&w, report, sizeof report - 1);
	wire_end(&w);
	feed(c, l, &b);
	send_open(c, l, 1, "alice@" DOMAIN "/s");
	send_stanza(c, l, 1, STANZA_MESSAGE, STANZA_T_CHAT, "m", "alice@" DOMAIN "/s",
		    "alice@" DOMAIN "/s", "<message type=\"chat\"/>");
	/* Admin frames come over the control socket only (control.c). */
	struct link *adm = link_new(c, -1, "ctl");
	adm->admin = 1;
	wire_put_hello(&b, "starlingctl");
	wire_put_u8_frame(&b, WIRE_STATS_REQ, 0, 0);
	feed(c, adm, &b);
	CHECK(next_frame(adm, WIRE_STATS, &f, &keep) == 0);
	struct wire_reader r;
	wire_reader_init(&r, &f);
	struct wire_str t = wire_get_str(&r);
	CHECK(!r.err);
	CHECK(has_str(t, "starling_core_cm_links 1\n"));
	CHECK(has_str(t, "starling_core_sessions 1\n"));
	CHECK(has_str(t, "starling_core_deliveries_total "));
	CHECK(has_str(t, "starling_cm_connections{cm=\"starling-cm/9/0x\"} 7\n"));
	CHECK(has_str(t, "starling_cm_accepted_total{cm=\"starling-cm/9/0x\"} 12\n"));
	CHECK(!has_str(t, "Bad_Name") && !has_str(t, "evil") && !has_str(t, "neg"));
	CHECK(c->stats.stanzas[STANZA_MESSAGE] >= 1 && c->stats.deliveries >= 1);
	buf_free(&keep);
	close_link(c, adm);
	/* ... and a cm's link asking for them is cut. */
	wire_put_u8_frame(&b, WIRE_STATS_REQ, 0, 0);
	feed(c, l, &b);
	CHECK(l->dead);
	close_link(c, l);
}

/* XEP-0280: a <received/> copy is well-formed XML carrying the original's
 * from and to, escaped (a resourcepart may hold '"' and '&'), and goes only to
 * the resource that enabled carbons and did not get the message. */
static void test_carbons(struct core *c)
{
	struct link *l = hello_link(c);
	struct wire_stanza s;
	struct buf keep = {0};
	uint32_t sid;
	send_open(c, l, 1, "bob@" DOMAIN "/b");
	send_open(c, l, 2, "bob@" DOMAIN "/c");
	send_open(c, l, 3, "alice@" DOMAIN "/x\"&y");
	send_stanza(c, l, 2, STANZA_IQ, STANZA_T_SET, "e", "bob@" DOMAIN "/c", "",
		    "<iq type=\"set\"><enable xmlns=\"urn:xmpp:carbons:2\"/></iq>");
	CHECK(next_stanza(l, &s, &sid, &keep) == 0 && sid == 2 && s.type == STANZA_T_RESULT);
	send_stanza(c, l, 3, STANZA_MESSAGE, STANZA_T_CHAT, "m", "alice@" DOMAIN "/x\"&y",
		    "bob@" DOMAIN "/b", "<message type=\"chat\"><body>1 &lt; 2</body></message>");
	int plain = 0, copies = 0;
	while (!next_stanza(l, &s, &sid, &keep)) {
		if (sid == 1) {
			plain++;
			continue;
		}
		CHECK(sid == 2 && wire_str_eq(s.from, "bob@" DOMAIN));
		CHECK(has_str(s.xml, "<received xmlns=\"urn:xmpp:carbons:2\">"));
		CHECK(has_str(s.xml, " from=\"alice@" DOMAIN "/x&quot;&amp;y\" to=\"bob@" DOMAIN
				     "/b\" type=\"chat\"><body>1 &lt; 2</body></message>"));
		xmlDocPtr d = xmlReadMemory(s.xml.p, (int)s.xml.len, NULL, NULL, XML_PARSE_NONET);
		CHECK(d != NULL);
		xmlFreeDoc(d);
		copies++;
	}
	CHECK(plain == 1 && copies == 1);
	buf_free(&keep);
	close_link(c, l);
}

static void send_ack(struct core *c, struct link *l, uint32_t h)
{
	struct buf b = {0};
	wire_put_u32_frame(&b, WIRE_ACK, 0, h);
	feed(c, l, &b);
}

/* docs/link-protocol.md "Acknowledgements": a stanza sent to a cm is kept
 * until the cm counts it; a link that closes before routes what it kept
 * again (here: to offline storage, the session being gone). */
static void test_link_acks(struct core *c)
{
	struct link *l = hello_link(c), *l2 = hello_link(c);
	send_open(c, l2, 1, "alice@" DOMAIN "/a");
	send_open(c, l, 2, "bob@" DOMAIN "/b");
	const char *msg = "<message type='chat'><body>x</body></message>";
	send_stanza(c, l2, 1, STANZA_MESSAGE, STANZA_T_CHAT, "m1", "alice@" DOMAIN "/a",
		    "bob@" DOMAIN "/b", msg);
	CHECK(l->ack.kept_n == 1 && l2->ack.rx == 1);
	send_ack(c, l, 1); /* bob's cm has it */
	CHECK(l->ack.kept_n == 0 && !l->dead);
	send_stanza(c, l2, 1, STANZA_MESSAGE, STANZA_T_CHAT, "m2", "alice@" DOMAIN "/a",
		    "bob@" DOMAIN "/b", msg);
	CHECK(l->ack.kept_n == 1);
	int before = store_offline_count(c->store, "bob@" DOMAIN);
	link_close(c, l); /* lost before bob's cm counted m2 */
	CHECK(store_offline_count(c->store, "bob@" DOMAIN) == before + 1);
	/* Counting more than was sent is a broken peer. */
	struct link *l3 = hello_link(c);
	send_ack(c, l3, 1);
	CHECK(l3->dead);
	close_link(c, l3);
	close_link(c, l2);
	store_offline_del(c->store, "bob@" DOMAIN, INT64_MAX);
}

#define TOKEN "0123456789abcdef0123456789abcdef"

static void send_park(struct core *c, struct link *l, uint32_t sid, uint32_t secs,
		      const struct buf *q, uint32_t n)
{
	struct buf b = {0};
	struct wire_park p = {.token = core_wstr(TOKEN), .secs = secs, .h_in = 3, .acked = 1,
			      .n = n, .q = {buf_head(q), (uint32_t)buf_avail(q)}};
	CHECK(wire_put_park(&b, sid, &p) == 0);
	feed(c, l, &b);
}

/* The core's answer to SESSION_UNPARK: its status, p pointing into *keep. */
static int unpark(struct core *c, struct link *l, uint32_t sid, const char *bare,
		  const char *token, struct wire_park *p, struct buf *keep)
{
	struct buf b = {0};
	struct wire_writer w;
	wire_begin(&w, &b, WIRE_SESSION_UNPARK, sid);
	wire_put_cstr(&w, bare);
	wire_put_cstr(&w, token);
	CHECK(wire_end(&w) == 0);
	feed(c, l, &b);
	struct wire_frame f;
	uint8_t status = 9;
	CHECK(next_frame(l, WIRE_SESSION_UNPARKED, &f, keep) == 0 && f.sid == sid);
	CHECK(wire_get_unparked(&f, &status, p) == 0);
	return status;
}

/* XEP-0198 between cms (core/park.c): a parked session stays online and
 * queues what it is sent; its account with its token takes it up on any
 * link, queue and counts included, and no one else does; one left waiting
 * ends, and its messages go offline. */
static void test_park(struct core *c)
{
	struct link *l = hello_link(c), *l2 = hello_link(c);
	send_open(c, l, 1, "alice@" DOMAIN "/phone");
	send_open(c, l2, 2, "bob@" DOMAIN "/pc");
	const char *msg = "<message type='chat'><body>x</body></message>";
	struct wire_stanza m = {STANZA_MESSAGE, STANZA_T_CHAT, core_wstr("m1"),
				core_wstr("bob@" DOMAIN "/pc"), core_wstr("alice@" DOMAIN "/phone"),
				core_wstr(msg)};
	struct buf q = {0}, keep = {0};
	CHECK(wire_put_stanza_return(&q, &m) == 0);
	int offline = store_offline_count(c->store, "alice@" DOMAIN);
	send_park(c, l, 1, 60, &q, 1);
	CHECK(!l->dead && c->parks.n == 1 && !session_by_sid(l, 1));
	/* Still hers: m2 queues instead of going offline. */
	send_stanza(c, l2, 2, STANZA_MESSAGE, STANZA_T_CHAT, "m2", "bob@" DOMAIN "/pc",
		    "alice@" DOMAIN "/phone", msg);
	park_tick(c);
	CHECK(store_offline_count(c->store, "alice@" DOMAIN) == offline);
	struct wire_park p;
	uint32_t kept = l2->ack.kept_n; /* answers are counted by the cm: kept till then */
	CHECK(unpark(c, l2, 7, "alice@" DOMAIN, "0123456789abcdef0123456789abcdee", &p, &keep) == 1);
	CHECK(unpark(c, l2, 8, "alice@" DOMAIN, "0123", &p, &keep) == 1);
	CHECK(unpark(c, l2, 8, "bob@" DOMAIN, TOKEN, &p, &keep) == 1);
	CHECK(c->parks.n == 1 && !session_by_sid(l2, 7) && !session_by_sid(l2, 8));
	CHECK(l2->ack.kept_n == kept + 3);
	CHECK(unpark(c, l2, 9, "alice@" DOMAIN, TOKEN, &p, &keep) == 0);
	CHECK(wire_str_eq(p.jid, "alice@" DOMAIN "/phone") && p.h_in == 3 && p.acked == 1 &&
	      p.n == 2 && has_str(p.q, "m1") && has_str(p.q, "m2"));
	CHECK(session_by_sid(l2, 9) && c->parks.n == 0);
	CHECK(unpark(c, l2, 10, "alice@" DOMAIN, TOKEN, &p, &keep) == 1); /* once */
	/* Parked again and not taken up in time: m1 goes offline, and so does
	 * the queue of a session that ended before its park arrived. */
	send_park(c, l2, 9, 0, &q, 1);
	send_park(c, l2, 99, 60, &q, 1);
	CHECK(!l2->dead && c->parks.n == 1);
	park_tick(c);
	CHECK(c->parks.n == 0 && !c->parks.gone.len);
	CHECK(store_offline_count(c->store, "alice@" DOMAIN) == offline + 2);
	/* Taken up by a link lost before its cm counted the answer: the queue
	 * it carried is stored, not lost with the link. */
	struct link *l3 = hello_link(c);
	send_park(c, l2, 2, 60, &q, 1); /* bob's, for a change */
	CHECK(unpark(c, l3, 5, "bob@" DOMAIN, TOKEN, &p, &keep) == 0 && l3->ack.kept_n == 1);
	int bob = store_offline_count(c->store, "bob@" DOMAIN);
	link_close(c, l3);
	park_tick(c);
	/* m1 was addressed to alice: routed to her bare JID, offline */
	CHECK(store_offline_count(c->store, "alice@" DOMAIN) == offline + 3);
	CHECK(store_offline_count(c->store, "bob@" DOMAIN) == bob);
	/* A queue that is not n frames is a broken peer. */
	send_open(c, l2, 2, "bob@" DOMAIN "/pc");
	send_park(c, l2, 2, 60, &q, 2);
	CHECK(l2->dead);
	buf_free(&q);
	buf_free(&keep);
	close_link(c, l);
	close_link(c, l2);
	park_free(c);
	store_offline_del(c->store, "alice@" DOMAIN, INT64_MAX);
}

/* A presence broadcast reaches every subscribed resource with one frame per
 * link (STANZA_MULTI), each destination with its full JID. */
static void test_presence_multicast(struct core *c)
{
	struct link *l = hello_link(c), *l2 = hello_link(c);
	struct store_item it = {.contact = "bob@" DOMAIN, .sub = STORE_SUB_FROM};
	CHECK(store_roster_put(c->store, "alice@" DOMAIN, &it) == 0);
	char jid[64];
	send_open(c, l, 1, "alice@" DOMAIN "/a");
	for (uint32_t i = 0; i < 3; i++) {
		snprintf(jid, sizeof jid, "bob@" DOMAIN "/r%u", i);
		send_open(c, l, 10 + i, jid);
		send_stanza(c, l, 10 + i, STANZA_PRESENCE, STANZA_T_NONE, "", jid, "", "<presence/>");
	}
	send_open(c, l2, 20, "bob@" DOMAIN "/far");
	send_stanza(c, l2, 20, STANZA_PRESENCE, STANZA_T_NONE, "", "bob@" DOMAIN "/far", "",
		    "<presence/>");
	buf_free(&l->out);
	buf_free(&l2->out);
	send_stanza(c, l, 1, STANZA_PRESENCE, STANZA_T_NONE, "p1", "alice@" DOMAIN "/a", "",
		    "<presence><status>hi</status></presence>");
	struct link *links[2] = {l, l2};
	for (int k = 0; k < 2; k++) {
		struct wire_frame f;
		struct wire_stanza s;
		struct wire_reader r;
		uint32_t n = 0, sid, frames = 0, multi = 0;
		struct wire_str to;
		const uint8_t *p = (const uint8_t *)buf_head(&links[k]->out);
		size_t left = buf_avail(&links[k]->out);
		long len;
		while ((len = wire_parse(p, left, &f)) > 0) {
			frames++;
			if (f.type == WIRE_STANZA_MULTI && !wire_get_stanza_multi(&f, &s, &n, &r)) {
				multi++;
				CHECK(wire_str_eq(s.from, "alice@" DOMAIN "/a") && wire_str_eq(s.id, "p1"));
				for (uint32_t i = 0; i < n; i++) {
					wire_get_dest(&r, &sid, &to);
					/* alice's own resource gets it too (§4.2.2) */
					if (k)
						snprintf(jid, sizeof jid, "bob@" DOMAIN "/far");
					else if (sid == 1)
						snprintf(jid, sizeof jid, "alice@" DOMAIN "/a");
					else
						snprintf(jid, sizeof jid, "bob@" DOMAIN "/r%u", sid - 10);
					CHECK(!r.err && (k ? sid == 20 : sid == 1 || (sid >= 10 && sid < 13)) &&
					      wire_str_eq(to, jid));
				}
			}
			p += len;
			left -= (size_t)len;
		}
		CHECK(frames == 1 && multi == 1 && n == (k ? 1u : 4u));
	}
	CHECK(store_roster_del(c->store, "alice@" DOMAIN, "bob@" DOMAIN) == 0);
	close_link(c, l);
	close_link(c, l2);
	CHECK(c->users.n == 0);
}

static void send_close(struct core *c, struct link *l, uint32_t sid)
{
	struct buf b = {0};
	wire_put_u8_frame(&b, WIRE_SESSION_CLOSE, sid, 0);
	feed(c, l, &b);
}

/* XEP-0012: the logout is recorded when the account's last session ends,
 * with the status of the presence that session sent last, and told to a
 * contact subscribed to the account's presence. */
static void test_last_logout(struct core *c)
{
	struct link *l = hello_link(c);
	struct wire_stanza s;
	struct buf keep = {0};
	uint32_t sid;
	int64_t stamp = 0;
	char *status = NULL;
	struct store_item it = {.contact = "alice@" DOMAIN, .sub = STORE_SUB_FROM};
	CHECK(store_roster_put(c->store, "bob@" DOMAIN, &it) == 0);
	CHECK(store_last_set(c->store, "bob@" DOMAIN, 1, "old") == 0);
	send_open(c, l, 1, "alice@" DOMAIN "/a");
	send_open(c, l, 2, "bob@" DOMAIN "/b");
	send_open(c, l, 3, "bob@" DOMAIN "/c");
	send_stanza(c, l, 2, STANZA_PRESENCE, STANZA_T_NONE, "", "bob@" DOMAIN "/b", "",
		    "<presence><status>here</status></presence>");
	send_stanza(c, l, 2, STANZA_PRESENCE, STANZA_T_UNAVAILABLE, "", "bob@" DOMAIN "/b", "",
		    "<presence type=\"unavailable\"><status>gone &lt;&amp;</status></presence>");
	send_close(c, l, 3); /* bob/b remains: nothing recorded */
	CHECK(store_last_get(c->store, "bob@" DOMAIN, &stamp, &status) == 0 && stamp == 1);
	free(status);
	status = NULL;
	send_close(c, l, 2);
	CHECK(store_last_get(c->store, "bob@" DOMAIN, &stamp, &status) == 0 && stamp > 1);
	CHECK_STR(status, "gone <&");
	free(status);
	buf_free(&l->out);
	send_stanza(c, l, 1, STANZA_IQ, STANZA_T_GET, "l1", "alice@" DOMAIN "/a", "bob@" DOMAIN,
		    "<iq type=\"get\"><query xmlns=\"jabber:iq:last\"/></iq>");
	CHECK(next_stanza(l, &s, &sid, &keep) == 0 && sid == 1 && s.type == STANZA_T_RESULT &&
	      wire_str_eq(s.from, "bob@" DOMAIN) && has_str(s.xml, ">gone &lt;&amp;</query>"));
	/* The other way round there is no subscription. */
	send_open(c, l, 2, "bob@" DOMAIN "/b");
	buf_free(&l->out);
	send_stanza(c, l, 2, STANZA_IQ, STANZA_T_GET, "l2", "bob@" DOMAIN "/b", "alice@" DOMAIN,
		    "<iq type=\"get\"><query xmlns=\"jabber:iq:last\"/></iq>");
	CHECK(next_stanza(l, &s, &sid, &keep) == 0 && sid == 2 && s.type == STANZA_T_ERROR &&
	      has_str(s.xml, "<forbidden "));
	CHECK(next_stanza(l, &s, &sid, &keep) == -1); /* exactly one answer */
	buf_free(&keep);
	close_link(c, l);
}

/* Presence updates sent to the stanzas' recipients, by sid, after alice's
 * next presence with the given status. */
static void fanout_round(struct core *c, struct link *l, const char *status, int got[4])
{
	char xml[64];
	struct wire_stanza s;
	struct buf keep = {0};
	uint32_t sid;
	snprintf(xml, sizeof xml, "<presence><status>%s</status></presence>", status);
	send_stanza(c, l, 1, STANZA_PRESENCE, STANZA_T_NONE, "", "alice@" DOMAIN "/a", "", xml);
	memset(got, 0, 4 * sizeof got[0]);
	while (!next_stanza(l, &s, &sid, &keep))
		if (sid < 4 && has_str(s.xml, status))
			got[sid]++;
	buf_free(&keep);
}

/* The broadcast list kept after the first broadcast (fanout.c) follows the
 * roster, also when another writer (starlingctl) changes it. */
static void test_fanout_follows_roster(struct core *c)
{
	struct link *l = hello_link(c);
	struct store_item bob = {.contact = "bob@" DOMAIN, .sub = STORE_SUB_FROM};
	struct store_item carol = {.contact = "carol@" DOMAIN, .sub = STORE_SUB_BOTH};
	int got[4];
	CHECK(store_roster_put(c->store, "alice@" DOMAIN, &bob) == 0);
	send_open(c, l, 1, "alice@" DOMAIN "/a");
	send_open(c, l, 2, "bob@" DOMAIN "/x");
	send_open(c, l, 3, "carol@" DOMAIN "/y");
	send_stanza(c, l, 2, STANZA_PRESENCE, STANZA_T_NONE, "", "bob@" DOMAIN "/x", "", "<presence/>");
	send_stanza(c, l, 3, STANZA_PRESENCE, STANZA_T_NONE, "", "carol@" DOMAIN "/y", "",
		    "<presence/>");
	fanout_round(c, l, "one", got);
	CHECK(got[1] == 1 && got[2] == 1 && got[3] == 0);
	fanout_round(c, l, "two", got); /* from here on the list is kept */
	CHECK(got[2] == 1 && got[3] == 0 && session_user(c, "alice@" DOMAIN, strlen("alice@" DOMAIN))->fanout);
	CHECK(store_roster_put(c->store, "alice@" DOMAIN, &carol) == 0);
	fanout_round(c, l, "three", got);
	CHECK(got[2] == 1 && got[3] == 1);
	CHECK(store_roster_del(c->store, "alice@" DOMAIN, "bob@" DOMAIN) == 0);
	fanout_round(c, l, "four", got);
	CHECK(got[1] == 1 && got[2] == 0 && got[3] == 1);
	CHECK(store_roster_del(c->store, "alice@" DOMAIN, "carol@" DOMAIN) == 0);
	close_link(c, l);
	CHECK(c->users.n == 0);
}

/* CRED answers the two SCRAM entries, plus the DIGEST-MD5 hash (link
 * version 5) only for an account that has one. */
static unsigned cred_entries(struct core *c, struct link *l, const char *user,
			     struct wire_cred_entry *e, struct buf *keep)
{
	struct buf b = {0};
	struct wire_frame f;
	struct wire_str u;
	uint8_t st = 99;
	unsigned n = 99;
	CHECK(wire_put_str_frame(&b, WIRE_CRED_REQ, 7, user) == 0);
	feed(c, l, &b);
	CHECK(!next_frame(l, WIRE_CRED, &f, keep) && wire_get_cred(&f, &st, &u, e, &n) == 0);
	CHECK(st == WIRE_CRED_OK);
	buf_free(&b);
	return n; /* e points into keep */
}

static void test_cred_digest(struct core *c)
{
	struct link *l = hello_link(c);
	struct wire_cred_entry e[WIRE_MAX_CREDS];
	struct buf keep = {0};
	uint8_t urp[STORE_DIGEST_MD5_LEN];
	memset(urp, 0x5a, sizeof urp);
	CHECK(cred_entries(c, l, "bob@" DOMAIN, e, &keep) == 2);
	CHECK(store_user_set_digest(c->store, "bob@" DOMAIN, urp) == 0);
	CHECK(cred_entries(c, l, "bob@" DOMAIN, e, &keep) == 3);
	CHECK(e[2].hash == WIRE_HASH_DIGEST_MD5 && e[2].stored_key.len == sizeof urp &&
	      !memcmp(e[2].stored_key.p, urp, sizeof urp) && e[2].salt.len == 0);
	CHECK(store_user_set_digest(c->store, "bob@" DOMAIN, NULL) == 0);
	buf_free(&keep);
	close_link(c, l);
}

static void test_bad_hello(struct core *c)
{
	struct link *l = link_new(c, -1, "old");
	struct buf b = {0};
	struct wire_writer w;
	wire_begin(&w, &b, WIRE_HELLO, 0);
	wire_put_u32(&w, WIRE_VERSION + 1);
	wire_put_cstr(&w, "future");
	wire_end(&w);
	feed(c, l, &b);
	CHECK(l->dead && !l->hello_rx);
	close_link(c, l);
	l = link_new(c, -1, "nohello");
	send_open(c, l, 1, "alice@" DOMAIN "/a");
	CHECK(l->dead);
	close_link(c, l);
}

/* Virtual hosts: alice@DOMAIN and alice@OTHER are two accounts, each with
 * its own sessions and offline queue; routing between the hosted domains is
 * local; the server answers for each domain in its own name; a domain not
 * hosted is still remote. */
static void test_vhosts(struct core *c)
{
	struct link *l = hello_link(c);
	struct wire_stanza s;
	struct wire_frame f;
	struct buf keep = {0};
	uint32_t sid;
	send_open(c, l, 1, "alice@" DOMAIN "/a");
	send_open(c, l, 2, "alice@" OTHER "/a");
	send_open(c, l, 3, "bob@" OTHER "/b");
	int opened = 0;
	while (!next_frame(l, WIRE_SESSION_OPENED, &f, &keep))
		opened += !f.payload[0];
	CHECK(opened == 3);
	CHECK(c->users.n == 3); /* same localpart, two users */
	/* across domains: bob@OTHER to alice@DOMAIN reaches session 1 only */
	send_stanza(c, l, 3, STANZA_MESSAGE, STANZA_T_CHAT, "x1", "bob@" OTHER "/b",
		    "alice@" DOMAIN "/a", "<message type=\"chat\"/>");
	CHECK(next_stanza(l, &s, &sid, &keep) == 0 && sid == 1 && wire_str_eq(s.id, "x1") &&
	      wire_str_eq(s.from, "bob@" OTHER "/b"));
	CHECK(next_stanza(l, &s, &sid, &keep) == -1);
	send_stanza(c, l, 1, STANZA_MESSAGE, STANZA_T_CHAT, "x2", "alice@" DOMAIN "/a",
		    "alice@" OTHER "/a", "<message type=\"chat\"/>");
	CHECK(next_stanza(l, &s, &sid, &keep) == 0 && sid == 2 && wire_str_eq(s.id, "x2"));
	CHECK(next_stanza(l, &s, &sid, &keep) == -1);
	/* disco#info to the second domain: answered by the server, from it */
	send_stanza(c, l, 1, STANZA_IQ, STANZA_T_GET, "d1", "alice@" DOMAIN "/a", OTHER,
		    "<iq type=\"get\"><query xmlns=\"http://jabber.org/protocol/disco#info\"/></iq>");
	CHECK(next_stanza(l, &s, &sid, &keep) == 0 && sid == 1 && s.type == STANZA_T_RESULT &&
	      wire_str_eq(s.from, OTHER) && has_str(s.xml, "disco#info"));
	/* a domain not hosted: remote-server-not-found, as before */
	send_stanza(c, l, 2, STANZA_MESSAGE, STANZA_T_CHAT, "r1", "alice@" OTHER "/a",
		    "alice@unhosted.example", "<message type=\"chat\"/>");
	CHECK(next_stanza(l, &s, &sid, &keep) == 0 && sid == 2 && s.type == STANZA_T_ERROR &&
	      has_str(s.xml, "remote-server-not-found"));
	/* offline storage is per account: alice@OTHER's message is not
	 * alice@DOMAIN's.  Close alice@OTHER's session first. */
	struct buf b = {0};
	wire_put_u8_frame(&b, WIRE_SESSION_CLOSE, 2, WIRE_CLOSE_NORMAL);
	feed(c, l, &b);
	int before = store_offline_count(c->store, "alice@" DOMAIN);
	send_stanza(c, l, 3, STANZA_MESSAGE, STANZA_T_CHAT, "o1", "bob@" OTHER "/b",
		    "alice@" OTHER, "<message type=\"chat\"><body>for other</body></message>");
	CHECK(store_offline_count(c->store, "alice@" OTHER) == 1);
	CHECK(store_offline_count(c->store, "alice@" DOMAIN) == before);
	CHECK(next_stanza(l, &s, &sid, &keep) == -1); /* not to alice@DOMAIN's session */
	/* an account that exists only in one domain does not exist in the other */
	send_stanza(c, l, 3, STANZA_MESSAGE, STANZA_T_CHAT, "n1", "bob@" OTHER "/b",
		    "carol@" OTHER, "<message type=\"chat\"/>");
	CHECK(next_stanza(l, &s, &sid, &keep) == 0 && sid == 3 && s.type == STANZA_T_ERROR &&
	      has_str(s.xml, "service-unavailable"));
	CHECK(store_offline_count(c->store, "carol@" OTHER) == 0);
	/* alice@OTHER logs in again: her stored message, stamped by her domain */
	send_open(c, l, 4, "alice@" OTHER "/c");
	send_stanza(c, l, 4, STANZA_PRESENCE, STANZA_T_NONE, "", "alice@" OTHER "/c", "",
		    "<presence/>");
	int got = 0;
	while (!next_stanza(l, &s, &sid, &keep))
		if (s.kind == STANZA_MESSAGE && wire_str_eq(s.id, "o1"))
			got += sid == 4 && has_str(s.xml, "from=\"" OTHER "\"");
	CHECK(got == 1);
	CHECK(store_offline_count(c->store, "alice@" OTHER) == 0);
	buf_free(&keep);
	close_link(c, l);
	CHECK(c->users.n == 0);
}

static void admin_req(struct core *c, struct link *adm, int json, const char *verb,
		      const char *a1, const char *a2)
{
	struct buf b = {0};
	struct wire_writer w;
	wire_begin(&w, &b, WIRE_ADMIN_REQ, 0);
	wire_put_u8(&w, (uint8_t)json);
	wire_put_cstr(&w, verb);
	wire_put_cstr(&w, a1);
	wire_put_cstr(&w, a2);
	wire_end(&w);
	feed(c, adm, &b);
}

/* The reply's status; its text in *t (valid while keep lives). */
static int admin_reply(struct link *adm, struct wire_str *t, struct buf *keep)
{
	struct wire_frame f;
	if (next_frame(adm, WIRE_ADMIN_REPLY, &f, keep))
		return -1;
	struct wire_reader r;
	wire_reader_init(&r, &f);
	int st = wire_get_u8(&r);
	*t = wire_get_str(&r);
	return r.err ? -1 : st;
}

/* The control socket's verbs: sessions shows the address the cm gave in
 * SESSION_OPEN (link version 5), escaped for JSON; kick sends SESSION_CLOSE
 * KICK with the condition's index to the cm and ends only the JID named;
 * a malformed request cuts the control connection. */
static void test_control(struct core *c)
{
	struct link *l = link_new(c, -1, "mem"), *adm = link_new(c, -1, "ctl");
	struct buf b = {0}, keep = {0};
	struct wire_str t;
	struct wire_frame f;
	wire_put_hello(&b, "starling-cm/1/0");
	feed(c, l, &b);
	struct wire_writer w;
	wire_begin(&w, &b, WIRE_SESSION_OPEN, 5);
	wire_put_cstr(&w, "alice@" DOMAIN "/a\"q");
	wire_put_cstr(&w, "192.0.2.1:4242");
	wire_end(&w);
	feed(c, l, &b);
	send_open(c, l, 6, "alice@" DOMAIN "/b"); /* no address: shown as "" */
	adm->admin = 1;
	send_hello(c, adm);
	admin_req(c, adm, 1, "sessions", "alice@" DOMAIN, "");
	CHECK(admin_reply(adm, &t, &keep) == 0);
	CHECK(has_str(t, "\"resource\":\"a\\\"q\",\"address\":\"192.0.2.1:4242\""));
	CHECK(has_str(t, "\"resource\":\"b\",\"address\":\"\""));
	CHECK(has_str(t, "\"cm\":\"starling-cm/1/0\""));
	buf_free(&l->out);
	admin_req(c, adm, 0, "kick", "alice@" DOMAIN "/b", "system-shutdown");
	CHECK(admin_reply(adm, &t, &keep) == 0 && has_str(t, "1 session(s) closed"));
	CHECK(next_frame(l, WIRE_SESSION_CLOSE, &f, &keep) == 0 && f.sid == 6 && f.plen == 2);
	CHECK(f.payload[0] == WIRE_CLOSE_KICK && f.payload[1] == 19); /* §4.9.3.20 */
	CHECK(session_by_sid(l, 6) == NULL && session_by_sid(l, 5) != NULL);
	admin_req(c, adm, 0, "kick", "alice@" DOMAIN, "bad-format"); /* not an operator's */
	CHECK(admin_reply(adm, &t, &keep) == 1 && session_by_sid(l, 5) != NULL);
	wire_put_u8_frame(&b, WIRE_ADMIN_REQ, 0, 1); /* no verb */
	feed(c, adm, &b);
	CHECK(adm->dead);
	buf_free(&keep);
	close_link(c, adm);
	close_link(c, l);
	CHECK(c->users.n == 0);
}

/* The next IQ get to sid on l (skipping presence and the rest): its id in
 * id, 0; -1 when there is none. */
static int next_query(struct link *l, uint32_t want, char *id, size_t cap)
{
	struct wire_stanza s;
	struct buf keep = {0};
	uint32_t sid;
	int rc = -1;
	while (rc && !next_stanza(l, &s, &sid, &keep))
		if (s.kind == STANZA_IQ && s.type == STANZA_T_GET && sid == want &&
		    s.id.len < cap && has_str(s.xml, "disco#info")) {
			memcpy(id, s.id.p, s.id.len);
			id[s.id.len] = 0;
			rc = 0;
		}
	buf_free(&keep);
	return rc;
}

/* How many PEP headlines carrying needle went to sid (the rest skipped). */
static int count_events(struct link *l, uint32_t want, const char *needle)
{
	struct wire_stanza s;
	struct buf keep = {0};
	uint32_t sid;
	int n = 0;
	while (!next_stanza(l, &s, &sid, &keep))
		n += s.kind == STANZA_MESSAGE && s.type == STANZA_T_HEADLINE && sid == want &&
		     has_str(s.xml, needle);
	buf_free(&keep);
	return n;
}

#define CAPS_QUERY_NS "http://jabber.org/protocol/disco#info"
#define CAPS_FEATURES                                                                              \
	"<identity category=\"client\" type=\"pc\"/><feature var=\"" CAPS_QUERY_NS "\"/>"        \
	"<feature var=\"t+notify\"/>"

static void caps_presence_of(struct core *c, struct link *l, uint32_t sid, const char *jid,
			     const char *ver)
{
	char xml[256];
	snprintf(xml, sizeof xml,
		 "<presence><c xmlns=\"http://jabber.org/protocol/caps\" hash=\"sha-1\""
		 " node=\"n\" ver=\"%s\"/></presence>", ver);
	send_stanza(c, l, sid, STANZA_PRESENCE, STANZA_T_NONE, "", jid, "", xml);
}

static void caps_answer(struct core *c, struct link *l, uint32_t sid, const char *jid,
			const char *id, uint8_t type)
{
	send_stanza(c, l, sid, STANZA_IQ, type, id, jid, DOMAIN,
		    "<iq type=\"result\"><query xmlns=\"" CAPS_QUERY_NS "\">" CAPS_FEATURES
		    "</query></iq>");
}

static void close_sid(struct core *c, struct link *l, uint32_t sid)
{
	struct buf b = {0};
	wire_put_u8_frame(&b, WIRE_SESSION_CLOSE, sid, 0);
	feed(c, l, &b);
}

/* XEP-0115 as caps.c uses it: one client per ver asked; while it has not
 * answered, others with that ver wait and get the last items when it does;
 * when it leaves, the next one is asked; an answer that does not hash to its
 * ver serves its sender only; an error asks nobody else for nothing. */
static void test_caps(struct core *c)
{
	char ver[CAPS_VER_LEN + 1], id[32];
	xmlDocPtr d = xmlReadMemory("<query xmlns=\"" CAPS_QUERY_NS "\">" CAPS_FEATURES "</query>",
				    (int)strlen("<query xmlns=\"" CAPS_QUERY_NS "\">" CAPS_FEATURES
						"</query>"),
				    NULL, NULL, 0);
	CHECK(d && caps_ver_sha1(xmlDocGetRootElement(d), ver) == 0);
	xmlFreeDoc(d);
	struct link *l = hello_link(c);
	const char *jid[] = {"", "alice@" DOMAIN "/c1", "alice@" DOMAIN "/c2", "alice@" DOMAIN "/c3",
			     "alice@" DOMAIN "/c4", "alice@" DOMAIN "/c5", "alice@" DOMAIN "/c6"};
	for (uint32_t i = 1; i <= 6; i++)
		send_open(c, l, i, jid[i]);
	send_stanza(c, l, 6, STANZA_IQ, STANZA_T_SET, "p", jid[6], "",
		    "<iq type=\"set\"><pubsub xmlns=\"http://jabber.org/protocol/pubsub\">"
		    "<publish node=\"t\"><item id=\"i1\"><tune xmlns=\"t\"/></item></publish>"
		    "</pubsub></iq>");
	buf_free(&l->out);
	caps_presence_of(c, l, 1, jid[1], ver);
	CHECK(next_query(l, 1, id, sizeof id) == 0);
	caps_presence_of(c, l, 2, jid[2], ver);
	CHECK(next_query(l, 2, id, sizeof id) == -1); /* waits for c1's answer */
	close_sid(c, l, 1);			      /* c1 leaves without one */
	CHECK(next_query(l, 2, id, sizeof id) == 0);
	caps_answer(c, l, 2, jid[2], "wrong", STANZA_T_RESULT);
	CHECK(count_events(l, 2, "i1") == 0); /* not the query's id */
	caps_answer(c, l, 2, jid[2], id, STANZA_T_RESULT);
	CHECK(count_events(l, 2, "i1") == 1); /* the last item, once known */
	caps_presence_of(c, l, 3, jid[3], ver);
	CHECK(count_events(l, 3, "i1") == 1); /* known: no query, item at once */
	/* Not matching its ver: kept for c4 alone, so c5 is asked again. */
	caps_presence_of(c, l, 4, jid[4], "bogus0000000000000000000000=");
	CHECK(next_query(l, 4, id, sizeof id) == 0);
	caps_answer(c, l, 4, jid[4], id, STANZA_T_RESULT);
	CHECK(count_events(l, 4, "i1") == 1);
	caps_presence_of(c, l, 4, jid[4], "bogus0000000000000000000000=");
	CHECK(next_query(l, 4, id, sizeof id) == -1); /* the same presence asks nothing */
	caps_presence_of(c, l, 5, jid[5], "bogus0000000000000000000000=");
	CHECK(next_query(l, 5, id, sizeof id) == 0);
	caps_answer(c, l, 5, jid[5], id, STANZA_T_ERROR);
	caps_presence_of(c, l, 5, jid[5], "other0000000000000000000000=");
	CHECK(next_query(l, 5, id, sizeof id) == 0);
	/* A publication reaches the three that want it, not c5 (unanswered). */
	send_stanza(c, l, 6, STANZA_IQ, STANZA_T_SET, "p2", jid[6], "",
		    "<iq type=\"set\"><pubsub xmlns=\"http://jabber.org/protocol/pubsub\">"
		    "<publish node=\"t\"><item id=\"i2\"><tune xmlns=\"t\"/></item></publish>"
		    "</pubsub></iq>");
	expand_multi(l);
	struct buf copy = {0};
	buf_append(&copy, buf_head(&l->out), buf_avail(&l->out));
	int n = count_events(l, 2, "i2");
	for (uint32_t i = 3; i <= 5; i++) {
		buf_append(&l->out, buf_head(&copy), buf_avail(&copy));
		n += count_events(l, i, "i2") * (i == 5 ? 100 : 1);
	}
	buf_free(&copy);
	CHECK(n == 3);
	/* A client that never answers holds the others up for CAPS_ANSWER_MS
	 * at most: the next one with that ver after it is asked instead. */
	const char *late[] = {"alice@" DOMAIN "/c7", "alice@" DOMAIN "/c8", "alice@" DOMAIN "/c9"};
	for (uint32_t i = 0; i < 3; i++)
		send_open(c, l, 7 + i, late[i]);
	buf_free(&l->out);
	caps_presence_of(c, l, 7, late[0], "silent000000000000000000000=");
	CHECK(next_query(l, 7, id, sizeof id) == 0);
	caps_presence_of(c, l, 8, late[1], "silent000000000000000000000=");
	CHECK(next_query(l, 8, id, sizeof id) == -1);
	c->now_ms += CAPS_ANSWER_MS + 1;
	caps_presence_of(c, l, 9, late[2], "silent000000000000000000000=");
	CHECK(next_query(l, 9, id, sizeof id) == 0);
	close_link(c, l);
}

int main(void)
{
	char path[] = "/tmp/starling_test_core_XXXXXX";
	int fd = mkstemp(path);
	close(fd);
	static const char *const hosts[] = {OTHER};
	struct core c = {.domain = DOMAIN, .hosts = hosts, .nhosts = 1, .epfd = -1};
	CHECK(store_open(path, DOMAIN, &c.store) == 0);
	struct scram_creds cr[2] = {{.hash = SCRAM_SHA1}, {.hash = SCRAM_SHA256}};
	CHECK(store_user_add(c.store, "alice@" DOMAIN, cr) == 0);
	CHECK(store_user_add(c.store, "bob@" DOMAIN, cr) == 0);
	test_routing(&c);
	test_directed_presence(&c);
	test_stats(&c);
	test_control(&c);
	test_carbons(&c);
	test_presence_multicast(&c);
	test_link_acks(&c);
	test_park(&c);
	test_fanout_follows_roster(&c);
	test_caps(&c);

	test_last_logout(&c);
	test_bad_hello(&c);
	test_cred_digest(&c);
	CHECK(store_user_add(c.store, "alice@" OTHER, cr) == 0);
	CHECK(store_user_add(c.store, "bob@" OTHER, cr) == 0);
	test_vhosts(&c);
	session_user_table_free(&c.users);
	caps_table_free(&c.caps);
	store_close(c.store);
	unlink(path);
	char side[sizeof path + 8];
	snprintf(side, sizeof side, "%s-wal", path);
	unlink(side);
	snprintf(side, sizeof side, "%s-shm", path);
	unlink(side);
	CHECK_DONE();
}
