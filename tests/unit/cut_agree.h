/* cut_agree: what the bench's quick cut (bench/cut.c) takes, lib/xstream
 * takes too, as the same one element: the cut may leave more to xstream,
 * never accept what xstream refuses.  Shared by test_cut and fuzz_bench. */
#ifndef STARLING_CUT_AGREE_H
#define STARLING_CUT_AGREE_H
#include <string.h>

#include "bench/cut.h"
#include "lib/xstream.h"

struct cut_seen {
	int elements;
	size_t len;
};

static int cut_agree_cb(void *arg, enum xs_event ev, const char *bytes, size_t len)
{
	struct cut_seen *s = arg;
	(void)bytes;
	if (ev == XS_ELEMENT && !s->elements++)
		s->len = len;
	return XS_CB_CONTINUE;
}

/* The length the cut takes from p (0: none), after checking that xstream,
 * fed a stream header and then those bytes, reads them without error as
 * exactly one element; -1 when it does not. */
static long cut_agree(const char *p, size_t n)
{
	static const char hdr[] = "<stream:stream xmlns='jabber:client' "
				  "xmlns:stream='http://etherx.jabber.org/streams'>";
	size_t k = cut_element(p, n);
	if (!k)
		return 0;
	struct xs_framer f;
	struct cut_seen s = { 0, 0 };
	xs_init(&f, 1u << 20);
	int rc = xs_feed(&f, hdr, sizeof hdr - 1, cut_agree_cb, &s);
	if (!rc)
		rc = xs_feed(&f, p, k, cut_agree_cb, &s);
	int between = xs_between(&f);
	xs_free(&f);
	return !rc && s.elements == 1 && s.len == k && between ? (long)k : -1;
}

#endif
