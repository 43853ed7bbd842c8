/* test_cut: the bench's quick cut of whole elements (bench/cut.c) takes the
 * stanzas servers send whole, leaves anything partial or unusual to
 * lib/xstream, and never accepts what xstream refuses (cut_agree.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../bench/cut.c"
#include "check.h"
#include "cut_agree.h"

/* Starling's delivery of a bench message, and others a server sends whole. */
static const char *const whole[] = {
	"<message from=\"user1@localhost/bench0\" to=\"user2@localhost/bench1\" type=\"chat\" "
	"id=\"m0\"><body>t=37716303478127</body></message>",
	"<message to='user2@localhost/bench1' type='chat' id='m17'><body>t=1</body></message>",
	"<r xmlns='urn:xmpp:sm:3'/>",
	"<a xmlns='urn:xmpp:sm:3' h='4' />",
	"<iq type='get' id='p1' from='localhost'><ping xmlns='urn:xmpp:ping'/></iq>",
	"<presence from='a@b/c'><status>t=5 with > and \"quotes\"</status>\n\t<x/></presence>",
	"<m><a><b><c><d><e><f><g><h/></g></f></e></d></c></b></a></m>", /* 8 open at most */
	"<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>",
};

/* Well-formed, but left to xstream (references, CDATA, spacing, depth). */
static const char *const left[] = {
	"<message><body>a &amp; b</body></message>",
	"<message a='&lt;'/>",
	"<message><body><![CDATA[x]]></body></message>",
	"<message a = 'x'/>",
	"<message></message >",
	"<m><a><b><c><d><e><f><g><h><i/></h></g></f></e></d></c></b></a></m>",
	" <message/>",
	"</stream:stream>",
};

/* Not well-formed (or restricted): xstream refuses them, the cut must too. */
static const char *const bad[] = {
	"<message><body>x</message></body>",
	"<message><body>x</bodyy></message>",
	"<message type=chat/>",
	"<message a='<'/>",
	"<message a='1'b='2'/>",
	"<message/ >",
	"<1message/>",
	"<message><body>\x01</body></message>",
	"<message a='\x02'/>",
	"<message><!-- c --></message>",
	"<message><?pi x?></message>",
	"<message><body>x</body></message\x01>",
};

static void test_whole(void)
{
	for (size_t i = 0; i < sizeof whole / sizeof *whole; i++) {
		size_t n = strlen(whole[i]);
		CHECK(cut_agree(whole[i], n) == (long)n);
		/* a stream's bytes go on after the element */
		char two[512];
		memcpy(two, whole[i], n);
		memcpy(two + n, "<message/>", 10);
		CHECK(cut_agree(two, n + 10) == (long)n);
		/* every proper prefix is an element not all there yet */
		int partial = 1;
		for (size_t k = 0; k < n; k++)
			partial &= cut_element(whole[i], k) == 0;
		CHECK(partial);
	}
}

static void test_left_and_bad(void)
{
	for (size_t i = 0; i < sizeof left / sizeof *left; i++)
		CHECK(cut_element(left[i], strlen(left[i])) == 0);
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		CHECK(cut_element(bad[i], strlen(bad[i])) == 0);
	/* xstream itself: the "left" ones are elements, the "bad" ones errors
	 * (else this test would prove nothing about the cut's strictness) */
	static const char hdr[] = "<stream:stream xmlns='jabber:client' "
				  "xmlns:stream='http://etherx.jabber.org/streams'>";
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct xs_framer f;
		struct cut_seen s = { 0, 0 };
		xs_init(&f, 1u << 20);
		int rc = xs_feed(&f, hdr, sizeof hdr - 1, cut_agree_cb, &s);
		CHECK(rc == 0 && xs_feed(&f, bad[i], strlen(bad[i]), cut_agree_cb, &s) < 0);
		xs_free(&f);
	}
}

/* A control character anywhere, in the word-at-a-time check's every lane. */
static void test_controls(void)
{
	const char *m = whole[0], *text = strstr(m, "t="), *text_end = strstr(m, "</body>");
	size_t n = strlen(m);
	char b[256];
	int refused = 1, tabs = 1;
	for (size_t k = 1; k + 1 < n; k++) {
		if (m[k] == '<' || m[k] == '>' || m[k] == '"' || m[k] == '=' || m[k] == ' ')
			continue;
		memcpy(b, m, n);
		b[k] = '\x1f';
		refused &= cut_element(b, n) == 0;
		b[k] = '\t'; /* whitespace passes where it is plain text */
		if (m + k >= text && m + k < text_end)
			tabs &= cut_agree(b, n) == (long)n;
	}
	CHECK(refused);
	CHECK(tabs);
}

/* Random damage to real stanzas: whatever the cut takes, xstream agrees. */
static void test_mutations(void)
{
	uint32_t x = 12345;
	int agree = 1, taken = 0;
	char b[512];
	for (int round = 0; round < 200000; round++) {
		const char *m = whole[round % (sizeof whole / sizeof *whole)];
		size_t n = strlen(m);
		memcpy(b, m, n);
		for (int e = 0; e < 1 + round % 3; e++) {
			x = x * 1103515245u + 12345u;
			size_t at = (x >> 8) % n;
			static const char pick[] = "<>/='\" &;!?[]-:a1\x01\t";
			b[at] = pick[(x >> 20) % (sizeof pick - 1)];
		}
		long k = cut_agree(b, n);
		agree &= k >= 0;
		taken += k > 0;
	}
	CHECK(agree);
	CHECK(taken > 1000); /* the damage left many still whole */
}

int main(void)
{
	test_whole();
	test_left_and_bad();
	test_controls();
	test_mutations();
	CHECK_DONE();
}
