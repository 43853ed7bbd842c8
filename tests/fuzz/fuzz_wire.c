/* fuzz_wire: parse link frames in a loop and decode each with the typed
 * getters; stanzas are rendered, and re-encoded frames must decode the same. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/wire.h"

static int same(struct wire_str a, struct wire_str b)
{
	return a.len == b.len && (!a.len || !memcmp(a.p, b.p, a.len));
}

static void stanza_roundtrip(const struct wire_frame *f, const struct wire_stanza *s)
{
	struct buf b = {0}, out = {0};
	struct wire_frame g;
	struct wire_stanza t;
	if (wire_put_stanza(&b, f->sid, s))
		abort();
	if (wire_parse((const uint8_t *)buf_head(&b), buf_avail(&b), &g) != (long)buf_avail(&b))
		abort();
	if (wire_get_stanza(&g, &t) || t.kind != s->kind || t.type != s->type ||
	    !same(t.id, s->id) || !same(t.from, s->from) || !same(t.to, s->to) ||
	    !same(t.xml, s->xml))
		abort();
	(void)wire_stanza_render(&out, s);
	buf_free(&out);
	buf_free(&b);
}

/* A park that decodes holds n whole stanzas, and encodes back the same. */
static void park_roundtrip(const struct wire_frame *f)
{
	struct wire_park p, g;
	uint8_t st = 0, st2 = 0;
	int park = f->type == WIRE_SESSION_PARK;
	if (park ? wire_get_park(f, &p) : wire_get_unparked(f, &st, &p))
		return;
	const uint8_t *q = (const uint8_t *)p.q.p;
	size_t left = p.q.len;
	struct wire_frame e;
	struct wire_stanza s;
	long len;
	uint32_t k = 0;
	for (; left && (len = wire_parse(q, left, &e)) > 0; q += len, left -= (size_t)len, k++)
		if (e.type != WIRE_STANZA_RETURN || wire_get_stanza(&e, &s))
			abort();
		else
			stanza_roundtrip(&e, &s);
	if (left || k != p.n)
		abort();
	struct buf b = {0};
	struct wire_frame h;
	if ((park ? wire_put_park(&b, f->sid, &p) : wire_put_unparked(&b, f->sid, st, &p)) ||
	    wire_parse((const uint8_t *)buf_head(&b), buf_avail(&b), &h) <= 0 ||
	    (park ? wire_get_park(&h, &g) : wire_get_unparked(&h, &st2, &g)) || st2 != st ||
	    g.n != (st ? 0 : p.n) || (!st && (!same(g.q, p.q) || !same(g.jid, p.jid))) ||
	    (park && (!same(g.token, p.token) || g.secs != p.secs)))
		abort();
	buf_free(&b);
}

static void decode(const struct wire_frame *f)
{
	struct wire_reader r;
	struct wire_stanza s;
	struct wire_cred_entry e[WIRE_MAX_CREDS];
	struct wire_str str, u;
	uint32_t v;
	uint8_t st;
	unsigned n;
	wire_reader_init(&r, f);
	switch (f->type) {
	case WIRE_HELLO:
		if (wire_get_hello(f, &v, &str) == 0)
			free(wire_strdup(str));
		break;
	case WIRE_PING:
	case WIRE_PONG:
		(void)wire_get_u32(&r);
		break;
	case WIRE_CRED_REQ:
	case WIRE_SESSION_OPEN:
		str = wire_get_str(&r);
		if (!r.err)
			(void)wire_str_eq(str, "juliet");
		break;
	case WIRE_CRED:
		if (wire_get_cred(f, &st, &u, e, &n) == 0 && n > WIRE_MAX_CREDS)
			abort();
		break;
	case WIRE_SESSION_OPENED:
	case WIRE_SESSION_CLOSE:
	case WIRE_FLOW:
		(void)wire_get_u8(&r);
		break;
	case WIRE_STANZA:
		if (wire_get_stanza(f, &s) == 0)
			stanza_roundtrip(f, &s);
		break;
	case WIRE_TRACE: {
		uint64_t t[WIRE_TRACE_MAX], back[WIRE_TRACE_MAX];
		struct buf b = {0};
		struct wire_frame g;
		int k = wire_get_trace(f, t);
		if (k < 0)
			break;
		if (k > WIRE_TRACE_MAX || wire_put_trace(&b, f->sid, t, (unsigned)k) ||
		    wire_parse((const uint8_t *)buf_head(&b), buf_avail(&b), &g) <= 0 ||
		    wire_get_trace(&g, back) != k || memcmp(t, back, (size_t)k * sizeof *t))
			abort();
		buf_free(&b);
		break;
	}
	case WIRE_SESSION_UNPARK:
		str = wire_get_str(&r);
		u = wire_get_str(&r);
		if (!r.err)
			(void)wire_str_eq(u, "token");
		break;
	case WIRE_SESSION_PARK:
	case WIRE_SESSION_UNPARKED:
		park_roundtrip(f);
		break;
	case WIRE_STANZA_MULTI: {
		uint32_t cnt, sid;
		struct wire_str to;
		if (wire_get_stanza_multi(f, &s, &cnt, &r))
			break;
		/* The count was checked against the bytes left. */
		if (cnt > f->plen / 8)
			abort();
		for (uint32_t i = 0; i < cnt && !r.err; i++) {
			wire_get_dest(&r, &sid, &to);
			if (!r.err && to.len && memchr(to.p, 0, to.len))
				abort();
		}
		break;
	}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_frame f;
	long n;
	while ((n = wire_parse(data, size, &f)) > 0) {
		if ((size_t)n > size || n < WIRE_HDR_LEN || f.plen != (uint32_t)n - WIRE_HDR_LEN)
			abort();
		decode(&f);
		data += n;
		size -= (size_t)n;
	}
	return 0;
}
