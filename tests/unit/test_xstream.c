/* Unit tests for lib/xstream.c: events, chunk-boundary independence, the
 * restricted XML profile (RFC 6120 §11.1), size limit, restart and stop. */
#include <libxml/parser.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xstream.h"
#include "tests/unit/check.h"

/* Events are logged as "<ev>:<bytes>\n" so whole runs compare as strings. */
struct rec {
	struct buf log;
	int n;
	int restart_at; /* event number answered with XS_CB_RESTART (-1: none) */
	int stop_at;
	const char *data; /* current chunk, to tell zero-copy delivery apart */
	size_t data_len;
	int n_direct;		/* events delivered straight from the caller's chunk */
	struct xs_framer *f;	/* to check pending while the callback runs */
	uint32_t max_pending;
};

static int rec_cb(void *arg, enum xs_event ev, const char *bytes, size_t len)
{
	struct rec *r = arg;
	char tag[2] = {"OEC"[ev], ':'};

	buf_append(&r->log, tag, 2);
	buf_append(&r->log, bytes, len);
	buf_append(&r->log, "\n", 1);
	if (bytes >= r->data && bytes + len <= r->data + r->data_len)
		r->n_direct++;
	int i = r->n++;
	if (i == r->restart_at)
		return XS_CB_RESTART;
	if (i == r->stop_at)
		return XS_CB_STOP;
	return XS_CB_CONTINUE;
}

static void rec_init(struct rec *r)
{
	memset(r, 0, sizeof(*r));
	r->restart_at = r->stop_at = -1;
}

static int feed(struct xs_framer *f, struct rec *r, const char *d, size_t n)
{
	r->data = d;
	r->data_len = n;
	r->f = f;
	int rc = xs_feed(f, d, n, rec_cb, r);
	if (f->pending.len > r->max_pending)
		r->max_pending = f->pending.len;
	return rc;
}

/* Feed s in pieces of the given sizes (cycled); returns the first error or 0.
 * The log is NUL-terminated in r->log. */
static int run_split(const char *s, uint32_t max, const size_t *sizes, size_t nsizes,
		     struct rec *r)
{
	struct xs_framer f;
	size_t len = strlen(s), off = 0, k = 0;
	int rc = 0;

	xs_init(&f, max);
	rec_init(r);
	while (off < len && !rc) {
		size_t n = nsizes ? sizes[k++ % nsizes] : len;
		if (n > len - off)
			n = len - off;
		/* Copy each piece so the framer cannot read past its chunk unnoticed by ASan. */
		char *piece = malloc(n);
		memcpy(piece, s + off, n);
		rc = feed(&f, r, piece, n);
		free(piece);
		off += n;
	}
	xs_free(&f);
	buf_append(&r->log, "", 1);
	return rc;
}

static int run_whole(const char *s, uint32_t max, struct rec *r)
{
	return run_split(s, max, NULL, 0, r);
}

static const char stream[] =
	"<?xml version='1.0' encoding='UTF-8'?>\n"
	"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
	"to='example.com' version='1.0' xml:lang='en'>"
	"<starttls xmlns=\"urn:ietf:params:xml:ns:xmpp-tls\"/>  \n\t"
	"<message to='juliet@example.com/balcony' id='a>b/c' type=\"chat\" data=\"x='1'\">"
	"<body>Art thou not &amp; &lt;Romeo&gt; &quot;&apos; &#65;&#x1F600;?</body>"
	"<html xmlns='http://jabber.org/protocol/xhtml-im'>"
	"<body xmlns='http://www.w3.org/1999/xhtml'>"
	"<p style='a:b'>hi<br/></p></body></html>"
	"<![CDATA[</message> <& ]] ]]]>"
	"</message>"
	" "
	"<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>"
	"<presence/>"
	"<presence type = 'unavailable' ><status>bye</status ></presence >"
	"</stream:stream>";

static void test_events(void)
{
	struct rec r;
	CHECK(run_whole(stream, 4096, &r) == 0);
	CHECK(r.n == 7);
	CHECK(r.n_direct == 7); /* one chunk: no copies */
	CHECK(r.max_pending == 0);
	const char *log = r.log.data;
	CHECK(!strncmp(log, "O:<stream:stream xmlns='jabber:client'", 38));
	CHECK(strstr(log, "xml:lang='en'>\nE:<starttls "
			  "xmlns=\"urn:ietf:params:xml:ns:xmpp-tls\"/>\n"));
	CHECK(strstr(log, "\nE:<message to='juliet@example.com/balcony' id='a>b/c'"));
	CHECK(strstr(log, "]]]></message>\nE:<iq type='get' id='r1'>"));
	CHECK(strstr(log, "\nE:<presence/>\n"));
	CHECK(strstr(log, "</status ></presence >\nC:</stream:stream>\n"));
	CHECK(!strstr(log, "<?xml"));
	buf_free(&r.log);
}

static void test_splits(void)
{
	struct rec whole, part;
	static const size_t one[] = {1}, two[] = {2}, odd[] = {3, 1, 7, 2, 13, 5, 40};

	CHECK(run_whole(stream, 4096, &whole) == 0);
	CHECK(run_split(stream, 4096, one, 1, &part) == 0);
	CHECK_STR(part.log.data, whole.log.data);
	CHECK(part.n_direct == 0); /* every unit spanned chunks */
	buf_free(&part.log);
	CHECK(run_split(stream, 4096, two, 1, &part) == 0);
	CHECK_STR(part.log.data, whole.log.data);
	buf_free(&part.log);
	CHECK(run_split(stream, 4096, odd, 7, &part) == 0);
	CHECK_STR(part.log.data, whole.log.data);
	buf_free(&part.log);

	srand(1234);
	int same = 0;
	for (int i = 0; i < 300; i++) {
		size_t sizes[16];
		for (int k = 0; k < 16; k++)
			sizes[k] = 1 + (size_t)rand() % 64;
		run_split(stream, 4096, sizes, 16, &part);
		same += !strcmp(part.log.data, whole.log.data);
		buf_free(&part.log);
	}
	CHECK(same == 300);
	buf_free(&whole.log);
}

/* Result of feeding s whole and one byte at a time; both must agree. */
static int verdict(const char *s)
{
	static const size_t one[] = {1};
	struct rec a, b;
	int ra = run_whole(s, 4096, &a), rb = run_split(s, 4096, one, 1, &b);
	int same = ra == rb && !strcmp(a.log.data, b.log.data);
	buf_free(&a.log);
	buf_free(&b.log);
	return same ? ra : 99;
}

#define HDR "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"

static void test_restricted(void)
{
	CHECK(verdict("<!-- hi --><stream:stream>") == XS_ERR_RESTRICTED);
	CHECK(verdict(HDR "<!-- hi -->") == XS_ERR_RESTRICTED);
	CHECK(verdict(HDR "<message><!-- hi --></message>") == XS_ERR_RESTRICTED);
	CHECK(verdict("<!DOCTYPE stream [<!ENTITY x 'y'>]>" HDR) == XS_ERR_RESTRICTED);
	CHECK(verdict("<?xml version='1.0'?><!DOCTYPE s>" HDR) == XS_ERR_RESTRICTED);
	CHECK(verdict(HDR "<message><!ENTITY x 'y'></message>") == XS_ERR_RESTRICTED);
	CHECK(verdict("<?xml-stylesheet href='a'?>" HDR) == XS_ERR_RESTRICTED);
	CHECK(verdict("<?foo?>" HDR) == XS_ERR_RESTRICTED);
	CHECK(verdict("<?xml version='1.0'?><?xml version='1.0'?>" HDR) == XS_ERR_RESTRICTED);
	CHECK(verdict(HDR "<?xml version='1.0'?>") == XS_ERR_RESTRICTED);
	CHECK(verdict(HDR "<message><?php x ?></message>") == XS_ERR_RESTRICTED);
	CHECK(verdict(HDR "<message>&foo;</message>") == XS_ERR_RESTRICTED);
	CHECK(verdict(HDR "<message>&ampx;</message>") == XS_ERR_RESTRICTED);
	CHECK(verdict(HDR "<message>&averyveryverylongentityname;</message>") ==
	      XS_ERR_RESTRICTED);
	CHECK(verdict(HDR "<message id='&foo;'/>") == XS_ERR_RESTRICTED);
	CHECK(verdict("<stream:stream to='&foo;'>") == XS_ERR_RESTRICTED);
}

static void test_allowed(void)
{
	CHECK(verdict("<?xml version='1.0'?>" HDR) == 0);
	CHECK(verdict("  \n<?xml version='1.0'?>\n\n" HDR "  ") == 0);
	CHECK(verdict(HDR "<m a='&amp;&lt;&gt;&quot;&apos;&#65;&#x41;&#0065;&#x10FFFF;'/>") == 0);
	CHECK(verdict(HDR "<m>&amp;&lt;&gt;&quot;&apos;&#9;&#x1F600;&#x000000000041;</m>") == 0);
	CHECK(verdict(HDR "<m a=\"it's\" b='say \"x\"' c='>' d='/>' e = \"/\"/>") == 0);
	CHECK(verdict(HDR "<m><![CDATA[]]></m><m><![CDATA[<!-- & ]]]]></m>") == 0);
	CHECK(verdict(HDR "<m>a > b ]] c</m>") == 0);

	struct rec r;
	CHECK(run_whole(HDR "\n \r\n\t<m><![CDATA[</message>]]></m>  \n  ", 4096, &r) == 0);
	CHECK(r.n == 2);
	CHECK(strstr(r.log.data, "\nE:<m><![CDATA[</message>]]></m>\n") != NULL);
	buf_free(&r.log);
}

static void test_not_well_formed(void)
{
	CHECK(verdict("hello" HDR) == XS_ERR_NOT_WELL_FORMED);
	CHECK(verdict(HDR "keepalive?") == XS_ERR_NOT_WELL_FORMED);
	CHECK(verdict(HDR "&amp;") == XS_ERR_NOT_WELL_FORMED);
	CHECK(verdict(HDR "<![CDATA[x]]>") == XS_ERR_NOT_WELL_FORMED);
	CHECK(verdict(HDR "<m>a & b</m>") == XS_ERR_NOT_WELL_FORMED);
	CHECK(verdict(HDR "<m>&;</m>") == XS_ERR_NOT_WELL_FORMED);
	CHECK(verdict(HDR "<m>&#;</m>") == XS_ERR_NOT_WELL_FORMED);
	CHECK(verdict(HDR "<m>&#x;</m>") == XS_ERR_NOT_WELL_FORMED);
	CHECK(verdict(HDR "<m>&#xZZ;</m>") == XS_ERR_NOT_WELL_FORMED);
	CHECK(verdict(HDR "<m>&#0;</m>") == XS_ERR_NOT_WELL_FORMED);
	CHECK(verdict(HDR "<m>&#x110000;</m>") == XS_ERR_NOT_WELL_FORMED);
	CHECK(verdict(HDR "<m>&#99999999999;</m>") == XS_ERR_NOT_WELL_FORMED);
	CHECK(verdict(HDR "<m>&#xD800;</m>") == XS_ERR_NOT_WELL_FORMED);
	CHECK(verdict(HDR "<m a='x<y'/>") == XS_ERR_NOT_WELL_FORMED);
	CHECK(verdict(HDR "<m a='x & y'/>") == XS_ERR_NOT_WELL_FORMED);
	CHECK(verdict(HDR "<m a=1/>") == XS_ERR_NOT_WELL_FORMED);
	CHECK(verdict(HDR "<m a='1'b='2'/>") == XS_ERR_NOT_WELL_FORMED);
	CHECK(verdict(HDR "<m a/>") == XS_ERR_NOT_WELL_FORMED);
	CHECK(verdict(HDR "< m/>") == XS_ERR_NOT_WELL_FORMED);
	CHECK(verdict(HDR "<m/ >") == XS_ERR_NOT_WELL_FORMED);
	CHECK(verdict(HDR "<m></ m>") == XS_ERR_NOT_WELL_FORMED);
	CHECK(verdict(HDR "<m><![CDAT[x]]></m>") == XS_ERR_NOT_WELL_FORMED);
	CHECK(verdict(HDR "<m>\001</m>") == XS_ERR_NOT_WELL_FORMED);
	CHECK(verdict("</stream:stream>") == XS_ERR_NOT_WELL_FORMED);
	CHECK(verdict("<stream:stream/>") == XS_ERR_NOT_WELL_FORMED);
	CHECK(verdict(HDR "</stream:stream><m/>") == XS_ERR_NOT_WELL_FORMED);
	CHECK(verdict(HDR "</stream:stream> \n") == 0);
}

static void test_too_big(void)
{
	static const size_t one[] = {1};
	char s[256];
	struct rec r;

	size_t h = strlen(HDR);
	CHECK(h == 85);
	/* "<m>" + 78 digits + "</m>" = 85 bytes: exactly the limit passes. */
	snprintf(s, sizeof(s), "%s<m>%078d</m>", HDR, 0);
	CHECK(run_whole(s, 85, &r) == 0 && r.n == 2);
	buf_free(&r.log);
	CHECK(run_whole(s, 84, &r) == XS_ERR_TOO_BIG && r.n == 0); /* header too big */
	buf_free(&r.log);
	snprintf(s, sizeof(s), "%s<m>%079d</m>", HDR, 0);
	CHECK(run_whole(s, 85, &r) == XS_ERR_TOO_BIG && r.n == 1);
	buf_free(&r.log);
	CHECK(run_split(s, 85, one, 1, &r) == XS_ERR_TOO_BIG && r.n == 1);
	CHECK(r.max_pending <= 85); /* nothing buffered past the limit */
	buf_free(&r.log);
	/* An endless element is cut off at the limit, never buffered further. */
	char big[1000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	memcpy(big, HDR "<m>", strlen(HDR) + 3);
	CHECK(run_split(big, 200, one, 1, &r) == XS_ERR_TOO_BIG && r.max_pending <= 200);
	buf_free(&r.log);
	/* An endless XML declaration is bounded too. */
	memset(big, 'x', sizeof(big) - 1);
	memcpy(big, "<?xml ", 6);
	CHECK(run_split(big, 200, one, 1, &r) == XS_ERR_TOO_BIG);
	buf_free(&r.log);
}

/* XML 1.0 §3 WFC Element Type Match, RFC 6120 §4.9.3.13: a mismatched end tag
 * is refused when it is scanned, not left waiting for more bytes. */
static void test_end_tags(void)
{
	CHECK(verdict(HDR "<message><body></message>") == XS_ERR_NOT_WELL_FORMED);
	CHECK(verdict(HDR "<a><b></b></a>") == 0);
	CHECK(verdict(HDR "<a:x xmlns:a='u'><a:y/></a:x>") == 0);
	CHECK(verdict(HDR "<a></a >") == 0);
	CHECK(verdict(HDR "<a><b></b ></a\n\t>") == 0);
	CHECK(verdict(HDR "<a><b></a></b>") == XS_ERR_NOT_WELL_FORMED);
	CHECK(verdict(HDR "<a></ab>") == XS_ERR_NOT_WELL_FORMED);
	CHECK(verdict(HDR "<ab></a>") == XS_ERR_NOT_WELL_FORMED);
	CHECK(verdict(HDR "<a:x xmlns:a='u' xmlns:b='u'></b:x>") == XS_ERR_NOT_WELL_FORMED);
	CHECK(verdict(HDR "<m/></stream:stream>") == 0);
	CHECK(verdict(HDR "</foo>") == XS_ERR_NOT_WELL_FORMED);
	CHECK(verdict(HDR "</stream>") == XS_ERR_NOT_WELL_FORMED);
	CHECK(verdict(HDR "<m></m></stream:streams>") == XS_ERR_NOT_WELL_FORMED);
	CHECK(verdict("<s:stream xmlns:s='http://etherx.jabber.org/streams'></s:stream>") == 0);
	CHECK(verdict("<s:stream xmlns:s='http://etherx.jabber.org/streams'></stream:stream>") ==
	      XS_ERR_NOT_WELL_FORMED);

	/* The error comes with the '>' of the bad end tag, with nothing after it,
	 * whether it arrives whole or a byte at a time. */
	static const char bad[] = HDR "<message><body></message>";
	struct xs_framer f;
	struct rec r;
	xs_init(&f, 4096);
	rec_init(&r);
	CHECK(feed(&f, &r, bad, strlen(bad)) == XS_ERR_NOT_WELL_FORMED);
	CHECK(r.n == 1 && f.names == NULL && f.pending.cap == 0);
	xs_free(&f);
	buf_free(&r.log);
	xs_init(&f, 4096);
	rec_init(&r);
	size_t n = strlen(bad), i;
	int rc = 0;
	for (i = 0; i < n && !rc; i++)
		rc = feed(&f, &r, bad + i, 1);
	CHECK(rc == XS_ERR_NOT_WELL_FORMED && i == n);
	CHECK(f.names == NULL && f.pending.cap == 0);
	xs_free(&f);
	buf_free(&r.log);

	/* The name stack grows past its first capacity and back. */
	char deep[8192], *p = deep;
	p += sprintf(p, "%s", HDR);
	for (int k = 0; k < 100; k++)
		p += sprintf(p, "<e%d>", k);
	for (int k = 99; k >= 0; k--)
		p += sprintf(p, "</e%d>", k);
	CHECK(verdict(deep) == 0);
	p[-2] = '1'; /* "</e0>" -> "</e1>" */
	CHECK(verdict(deep) == XS_ERR_NOT_WELL_FORMED);
}

static int restart_at_elem(void *arg, enum xs_event ev, const char *b, size_t n)
{
	int *count = arg;
	(void)b;
	(void)n;
	count[ev]++;
	return ev == XS_ELEMENT && count[ev] == 1 ? XS_CB_RESTART : XS_CB_CONTINUE;
}

static void test_restart_stop(void)
{
	const char *s = HDR "<proceed/><?xml version='1.0'?>" HDR "<auth/>   <x/>";
	struct rec r;
	struct xs_framer f;

	xs_init(&f, 4096);
	rec_init(&r);
	r.restart_at = 1; /* the <proceed/> */
	CHECK(feed(&f, &r, s, strlen(s)) == 0);
	buf_append(&r.log, "", 1);
	CHECK(r.n == 5);
	CHECK(f.depth == 1);
	const char *want = "O:" HDR "\nE:<proceed/>\nO:" HDR "\nE:<auth/>\nE:<x/>\n";
	CHECK_STR(r.log.data, want);
	xs_free(&f);
	buf_free(&r.log);

	/* A restart in the middle of a chunk whose new header is split. */
	int count[3] = {0};
	const char *p1 = HDR "<success/><stream:str", *p2 = "eam>";
	xs_init(&f, 4096);
	CHECK(xs_feed(&f, p1, strlen(p1), restart_at_elem, count) == 0);
	CHECK(xs_feed(&f, p2, strlen(p2), restart_at_elem, count) == 0);
	CHECK(count[XS_STREAM_OPEN] == 2 && count[XS_ELEMENT] == 1);
	xs_free(&f);

	xs_init(&f, 4096);
	rec_init(&r);
	r.stop_at = 1;
	CHECK(feed(&f, &r, s, strlen(s)) == XS_ERR_STOPPED);
	CHECK(r.n == 2);
	CHECK(f.pending.cap == 0);
	xs_free(&f);
	buf_free(&r.log);
}

static void test_memory(void)
{
	struct xs_framer f;
	struct rec r;
	const char *a = HDR "<message><bo", *b = "dy>hi</body></message>", *c = "<m/><m>x";

	xs_init(&f, 4096);
	rec_init(&r);
	CHECK(feed(&f, &r, a, strlen(a)) == 0);
	CHECK(r.n == 1 && r.n_direct == 1);
	CHECK(f.pending.len == strlen("<message><bo"));
	CHECK(f.names != NULL); /* <message> is open */
	CHECK(feed(&f, &r, b, strlen(b)) == 0);
	CHECK(r.n == 2 && r.n_direct == 1); /* spanned: delivered from pending */
	CHECK(f.pending.cap == 0 && f.pending.data == NULL);
	CHECK(f.names == NULL);
	CHECK(feed(&f, &r, c, strlen(c)) == 0);
	CHECK(r.n == 3 && r.n_direct == 2); /* <m/> whole in its chunk: no copy */
	CHECK(f.pending.len == 4);
	CHECK(f.names != NULL);
	xs_reset(&f);
	CHECK(f.pending.cap == 0 && f.names == NULL && f.depth == 0 && f.max_size == 4096);
	xs_free(&f);
	buf_free(&r.log);
}

static void test_header(void)
{
	struct xs_header h;
	const char *good = "<stream:stream xmlns='jabber:client' "
			   "xmlns:stream='http://etherx.jabber.org/streams' to='example.com' "
			   "from='a@example.com' version='1.0' xml:lang='en' id='x&amp;y'>";

	CHECK(xs_parse_header(good, strlen(good), &h) == 0);
	CHECK(h.name_ok && h.stream_ns_ok && h.content_ns_ok);
	CHECK_STR(h.to, "example.com");
	CHECK_STR(h.from, "a@example.com");
	CHECK_STR(h.version, "1.0");
	CHECK_STR(h.lang, "en");
	CHECK_STR(h.id, "x&y");
	xs_header_free(&h);
	CHECK(h.to == NULL);

	/* Longer than what libxml2 converts of a first line (180 bytes) and
	 * than its 250-byte input chunk: every attribute is read. */
	char id[400];
	memset(id, 'i', sizeof id - 1);
	id[sizeof id - 1] = 0;
	char long_header[600];
	snprintf(long_header, sizeof long_header,
		 "<stream:stream xmlns='jabber:client' "
		 "xmlns:stream='http://etherx.jabber.org/streams' to='example.com' id='%s' "
		 "version='1.0' xml:lang='en'>", id);
	CHECK(xs_parse_header(long_header, strlen(long_header), &h) == 0);
	CHECK_STR(h.id, id);
	CHECK_STR(h.lang, "en");
	xs_header_free(&h);

	const char *min = "<s:stream xmlns:s='http://etherx.jabber.org/streams'>";
	CHECK(xs_parse_header(min, strlen(min), &h) == 0);
	CHECK(h.name_ok && h.stream_ns_ok && !h.content_ns_ok);
	CHECK(h.to == NULL && h.version == NULL && h.lang == NULL);
	xs_header_free(&h);

	const char *wrong_ns = "<stream:stream xmlns='jabber:server' "
			       "xmlns:stream='http://etherx.jabber.org/streamz'>";
	CHECK(xs_parse_header(wrong_ns, strlen(wrong_ns), &h) == 0);
	CHECK(h.name_ok && !h.stream_ns_ok && !h.content_ns_ok);
	xs_header_free(&h);

	const char *unbound = "<stream:stream xmlns='jabber:client'>";
	CHECK(xs_parse_header(unbound, strlen(unbound), &h) == 0);
	CHECK(h.name_ok && !h.stream_ns_ok && h.content_ns_ok); /* <invalid-namespace/> */
	xs_header_free(&h);

	const char *wrong_name =
		"<stream:features xmlns:stream='http://etherx.jabber.org/streams'>";
	CHECK(xs_parse_header(wrong_name, strlen(wrong_name), &h) == 0);
	CHECK(!h.name_ok && h.stream_ns_ok);
	xs_header_free(&h);

	const char *bad[] = {"<stream:stream a='1' a='2'>", "<stream:stream to=x>",
			     "<stream:stream to='a>", "stream", "<", "",
			     "<stream:stream to='\xff'>", "<stream:stream to='&foo;'>"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(xs_parse_header(bad[i], strlen(bad[i]), &h) == XS_ERR_NOT_WELL_FORMED);
		CHECK(h.to == NULL);
	}
}

int main(void)
{
	printf("sizeof(struct xs_framer) = %zu\n", sizeof(struct xs_framer));
	CHECK(sizeof(struct xs_framer) <= 64);
	test_events();
	test_splits();
	test_restricted();
	test_allowed();
	test_not_well_formed();
	test_too_big();
	test_restart_stop();
	test_end_tags();
	test_memory();
	test_header();
	xmlCleanupParser();
	CHECK_DONE();
}
