/* Unit tests for lib/buf.c: growth, consumption, and which buffers keep
 * their storage when they empty. */
#include <string.h>

#include "lib/buf.h"
#include "tests/unit/check.h"

static void test_consume_frees(void)
{
	struct buf b = {0};
	CHECK(buf_append_str(&b, "abcdef") == 0 && buf_avail(&b) == 6);
	buf_consume(&b, 2);
	CHECK(buf_avail(&b) == 4 && !memcmp(buf_head(&b), "cdef", 4));
	buf_consume(&b, 4);
	CHECK(b.data == NULL && b.cap == 0); /* an idle connection keeps nothing */
}

static void test_drop_keeps(void)
{
	struct buf b = {0};
	CHECK(buf_append_str(&b, "abcdef") == 0);
	char *storage = b.data;
	buf_drop(&b, 3, 4096);
	CHECK(buf_avail(&b) == 3 && b.data == storage);
	buf_drop(&b, 3, 4096);
	CHECK(buf_avail(&b) == 0 && b.data == storage && b.cap >= 6 && b.off == 0 && b.len == 0);
	CHECK(buf_append_str(&b, "xy") == 0 && b.data == storage && !memcmp(buf_head(&b), "xy", 2));
	/* Grown past the bound by a burst: given back. */
	CHECK(buf_reserve(&b, 8192) != NULL);
	buf_drop(&b, 2, 4096);
	CHECK(b.data == NULL && b.cap == 0);
}

/* TAB, LF and CR as references: in an attribute value they would otherwise
 * come back as spaces (XML 1.0 §3.3.3). */
static void test_xml_escaped(void)
{
	struct buf b = {0};
	CHECK(buf_append_xml_escaped(&b, "a\tb\nc\rd<&>\"'", 12) == 0);
	CHECK(buf_avail(&b) == strlen("a&#9;b&#10;c&#13;d&lt;&amp;&gt;&quot;&apos;") &&
	      !memcmp(buf_head(&b), "a&#9;b&#10;c&#13;d&lt;&amp;&gt;&quot;&apos;", buf_avail(&b)));
	buf_free(&b);
}

int main(void)
{
	test_xml_escaped();
	test_consume_frees();
	test_drop_keeps();
	CHECK_DONE();
}
