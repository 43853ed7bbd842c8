/* Fuzz target for lib/xstream.c: the framer must give the same events
 * whether the input arrives whole or split in two at a point chosen by the
 * first byte, must never buffer past its limit or keep its name stack between
 * elements, and every element it cuts is handed to stanza_parse() (and
 * serialised) as the cm would. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/stanza.h"
#include "lib/xstream.h"

#define FUZZ_XS_MAX 2048

struct fuzz_xs_run {
	unsigned events;
	unsigned long hash; /* over event kinds and bytes */
	int parse;	    /* call stanza_parse on elements */
	uint8_t restart_every;
};

static int fuzz_xs_cb(void *arg, enum xs_event ev, const char *bytes, size_t len)
{
	struct fuzz_xs_run *r = arg;

	if (len > FUZZ_XS_MAX)
		abort();
	r->hash = r->hash * 31 + ev;
	for (size_t i = 0; i < len; i++)
		r->hash = r->hash * 131 + (unsigned char)bytes[i];
	r->events++;
	if (ev == XS_STREAM_OPEN) {
		struct xs_header h;
		if (xs_parse_header(bytes, len, &h) == 0)
			xs_header_free(&h);
	}
	if (ev == XS_ELEMENT && r->parse) {
		struct stanza s;
		if (stanza_parse(bytes, len, &s) == 0) {
			struct buf b = {0};
			(void)stanza_serialize(&s, &b);
			buf_free(&b);
			stanza_free(&s);
		}
	}
	/* Exercise restarts at a data-derived rate (same for both runs). */
	if (r->restart_every && r->events % r->restart_every == 0)
		return XS_CB_RESTART;
	return XS_CB_CONTINUE;
}

/* Bounded buffering; no name stack between elements or after an error. */
static void fuzz_xs_check(const struct xs_framer *f, int rc)
{
	if (f->pending.len > FUZZ_XS_MAX)
		abort();
	if (f->names && (f->depth <= 1 || (rc < 0 && rc != XS_ERR_STOPPED)))
		abort();
}

static int fuzz_xs_feed(const uint8_t *data, size_t size, size_t cut, struct fuzz_xs_run *r)
{
	struct xs_framer f;
	int rc;

	xs_init(&f, FUZZ_XS_MAX);
	rc = xs_feed(&f, (const char *)data, cut, fuzz_xs_cb, r);
	fuzz_xs_check(&f, rc);
	if (rc == 0)
		rc = xs_feed(&f, (const char *)data + cut, size - cut, fuzz_xs_cb, r);
	fuzz_xs_check(&f, rc);
	xs_free(&f);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t ctl = data[0];
	data++;
	size--;
	size_t cut = size ? (size_t)ctl * 257 % (size + 1) : 0;
	struct fuzz_xs_run whole = {.parse = 1, .restart_every = ctl & 3};
	struct fuzz_xs_run split = {.restart_every = ctl & 3};

	int a = fuzz_xs_feed(data, size, size, &whole);
	int b = fuzz_xs_feed(data, size, cut, &split);
	if (a != b || whole.events != split.events || whole.hash != split.hash)
		abort();
	/* Byte at a time, for short inputs (slow otherwise). */
	if (size <= 256) {
		struct fuzz_xs_run one = {.restart_every = ctl & 3};
		struct xs_framer f;
		int c = 0;
		xs_init(&f, FUZZ_XS_MAX);
		for (size_t i = 0; i < size && !c; i++)
			c = xs_feed(&f, (const char *)data + i, 1, fuzz_xs_cb, &one);
		xs_free(&f);
		if (c != a || one.events != whole.events || one.hash != whole.hash)
			abort();
	}
	return 0;
}
