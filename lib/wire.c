#include "wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stanza.h"

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

long wire_parse(const uint8_t *data, size_t len, struct wire_frame *f)
{
	if (len < WIRE_HDR_LEN)
		return 0;
	uint32_t flen = get_be32(data);
	if (flen < WIRE_HDR_LEN || flen > WIRE_MAX_FRAME)
		return -EPROTO;
	if (len < flen)
		return 0;
	f->type = data[4];
	f->flags = data[5];
	f->sid = get_be32(data + 8);
	f->payload = data + WIRE_HDR_LEN;
	f->plen = flen - WIRE_HDR_LEN;
	return (long)flen;
}

void wire_reader_init(struct wire_reader *r, const struct wire_frame *f)
{
	r->p = f->payload;
	r->end = f->payload + f->plen;
	r->err = 0;
}

static int reader_need(struct wire_reader *r, size_t n)
{
	if (r->err || (size_t)(r->end - r->p) < n) {
		r->err = -EPROTO;
		return 0;
	}
	return 1;
}

uint8_t wire_get_u8(struct wire_reader *r)
{
	if (!reader_need(r, 1))
		return 0;
	return *r->p++;
}

uint32_t wire_get_u32(struct wire_reader *r)
{
	if (!reader_need(r, 4))
		return 0;
	uint32_t v = get_be32(r->p);
	r->p += 4;
	return v;
}

struct wire_str wire_get_str(struct wire_reader *r)
{
	struct wire_str s = {"", 0};
	uint32_t n = wire_get_u32(r);
	if (!reader_need(r, n))
		return s;
	s.p = (const char *)r->p;
	s.len = n;
	r->p += n;
	return s;
}

void wire_begin(struct wire_writer *w, struct buf *b, uint8_t type, uint32_t sid)
{
	uint8_t h[WIRE_HDR_LEN] = {0};
	h[4] = type;
	put_be32(h + 8, sid);
	w->b = b;
	/* Relative to the read offset: buf_reserve() may move the data down. */
	w->start = b->len - b->off;
	w->err = buf_append(b, h, sizeof h);
}

void wire_put_u8(struct wire_writer *w, uint8_t v)
{
	if (!w->err)
		w->err = buf_append(w->b, &v, 1);
}

void wire_put_u32(struct wire_writer *w, uint32_t v)
{
	uint8_t p[4];
	put_be32(p, v);
	if (!w->err)
		w->err = buf_append(w->b, p, 4);
}

void wire_put_str(struct wire_writer *w, const char *p, size_t len)
{
	if (len > WIRE_MAX_FRAME) {
		w->err = -EMSGSIZE;
		return;
	}
	wire_put_u32(w, (uint32_t)len);
	if (!w->err)
		w->err = buf_append(w->b, p, len);
}

void wire_put_cstr(struct wire_writer *w, const char *s)
{
	wire_put_str(w, s ? s : "", s ? strlen(s) : 0);
}

int wire_end(struct wire_writer *w)
{
	uint32_t start = w->b->off + w->start;
	uint32_t flen = w->b->len - start;
	if (!w->err && flen > WIRE_MAX_FRAME)
		w->err = -EMSGSIZE;
	if (w->err) {
		if (w->b->len >= start)
			w->b->len = start; /* drop the partial frame */
		if (w->b->len == w->b->off)
			buf_free(w->b); /* an empty buffer owns no memory */
		return w->err;
	}
	put_be32((uint8_t *)w->b->data + start, flen);
	return 0;
}

static void put_stanza_fields(struct wire_writer *w, const struct wire_stanza *s)
{
	wire_put_u8(w, s->kind);
	wire_put_u8(w, s->type);
	wire_put_str(w, s->id.p, s->id.len);
	wire_put_str(w, s->from.p, s->from.len);
	wire_put_str(w, s->to.p, s->to.len);
	wire_put_str(w, s->xml.p, s->xml.len);
}

int wire_put_stanza(struct buf *b, uint32_t sid, const struct wire_stanza *s)
{
	if (s->xml.len == 0)
		return -EINVAL; /* the receiver would refuse it */
	struct wire_writer w;
	wire_begin(&w, b, WIRE_STANZA, sid);
	put_stanza_fields(&w, s);
	return wire_end(&w);
}

int wire_put_stanza_return(struct buf *b, const struct wire_stanza *s)
{
	if (s->xml.len == 0)
		return -EINVAL;
	struct wire_writer w;
	wire_begin(&w, b, WIRE_STANZA_RETURN, 0);
	put_stanza_fields(&w, s);
	return wire_end(&w);
}

int wire_put_dest(struct buf *dests, uint32_t sid, const char *to, size_t len)
{
	uint8_t h[8];
	if (len > WIRE_MAX_FRAME)
		return -EMSGSIZE;
	put_be32(h, sid);
	put_be32(h + 4, (uint32_t)len);
	return buf_append(dests, h, sizeof h) || buf_append(dests, to, len) ? -ENOMEM : 0;
}

int wire_put_stanza_multi(struct buf *b, const struct wire_stanza *s, uint32_t n,
			  const struct buf *dests)
{
	if (s->xml.len == 0 || !n)
		return -EINVAL;
	struct wire_writer w;
	wire_begin(&w, b, WIRE_STANZA_MULTI, 0);
	put_stanza_fields(&w, s);
	wire_put_u32(&w, n);
	if (!w.err)
		w.err = buf_append(b, buf_head(dests), buf_avail(dests));
	return wire_end(&w);
}

/* Neither XML nor a JID can hold NUL; refusing it here keeps every
 * receiver's string handling (C strings, SQLite text) honest. */
static int has_nul(struct wire_str s)
{
	return s.len && memchr(s.p, 0, s.len);
}

static void get_stanza_fields(struct wire_reader *r, struct wire_stanza *s)
{
	s->kind = wire_get_u8(r);
	s->type = wire_get_u8(r);
	s->id = wire_get_str(r);
	s->from = wire_get_str(r);
	s->to = wire_get_str(r);
	s->xml = wire_get_str(r);
	if (!r->err && s->xml.len == 0)
		r->err = -EPROTO;
	const struct wire_str *f4[] = {&s->id, &s->from, &s->to, &s->xml};
	for (int i = 0; i < 4 && !r->err; i++)
		if (has_nul(*f4[i]))
			r->err = -EPROTO;
}

int wire_get_stanza(const struct wire_frame *f, struct wire_stanza *s)
{
	struct wire_reader r;
	wire_reader_init(&r, f);
	get_stanza_fields(&r, s);
	return r.err;
}

int wire_get_stanza_multi(const struct wire_frame *f, struct wire_stanza *s, uint32_t *n,
			  struct wire_reader *r)
{
	wire_reader_init(r, f);
	get_stanza_fields(r, s);
	*n = wire_get_u32(r);
	/* Each destination takes at least 8 bytes: a count the frame cannot
	 * hold is refused before anyone loops over it. */
	if (!r->err && (!*n || *n > (size_t)(r->end - r->p) / 8))
		r->err = -EPROTO;
	return r->err;
}

void wire_get_dest(struct wire_reader *r, uint32_t *sid, struct wire_str *to)
{
	*sid = wire_get_u32(r);
	*to = wire_get_str(r);
	if (!r->err && has_nul(*to))
		r->err = -EPROTO;
}

int wire_put_hello(struct buf *b, const char *name)
{
	struct wire_writer w;
	wire_begin(&w, b, WIRE_HELLO, 0);
	wire_put_u32(&w, WIRE_VERSION);
	wire_put_cstr(&w, name);
	return wire_end(&w);
}

int wire_get_hello(const struct wire_frame *f, uint32_t *version, struct wire_str *name)
{
	struct wire_reader r;
	wire_reader_init(&r, f);
	*version = wire_get_u32(&r);
	*name = wire_get_str(&r);
	return r.err;
}

int wire_put_trace(struct buf *b, uint32_t sid, const uint64_t *t, unsigned n)
{
	if (!n || n > WIRE_TRACE_MAX)
		return -EINVAL;
	struct wire_writer w;
	wire_begin(&w, b, WIRE_TRACE, sid);
	wire_put_u8(&w, (uint8_t)n);
	for (unsigned i = 0; i < n; i++) {
		wire_put_u32(&w, (uint32_t)(t[i] >> 32));
		wire_put_u32(&w, (uint32_t)t[i]);
	}
	return wire_end(&w);
}

int wire_get_trace(const struct wire_frame *f, uint64_t *t)
{
	struct wire_reader r;
	wire_reader_init(&r, f);
	unsigned n = wire_get_u8(&r);
	if (!n || n > WIRE_TRACE_MAX)
		return -EPROTO;
	for (unsigned i = 0; i < n; i++) {
		uint64_t hi = wire_get_u32(&r);
		t[i] = hi << 32 | wire_get_u32(&r);
	}
	return r.err || r.p != r.end ? -EPROTO : (int)n;
}

int wire_put_u8_frame(struct buf *b, uint8_t type, uint32_t sid, uint8_t v)
{
	struct wire_writer w;
	wire_begin(&w, b, type, sid);
	wire_put_u8(&w, v);
	return wire_end(&w);
}

int wire_put_u32_frame(struct buf *b, uint8_t type, uint32_t sid, uint32_t v)
{
	struct wire_writer w;
	wire_begin(&w, b, type, sid);
	wire_put_u32(&w, v);
	return wire_end(&w);
}

int wire_put_str_frame(struct buf *b, uint8_t type, uint32_t sid, const char *s)
{
	struct wire_writer w;
	wire_begin(&w, b, type, sid);
	wire_put_cstr(&w, s);
	return wire_end(&w);
}

int wire_put_cred(struct buf *b, uint32_t sid, uint8_t status, struct wire_str user,
		  const struct wire_cred_entry *e, unsigned n)
{
	struct wire_writer w;
	wire_begin(&w, b, WIRE_CRED, sid);
	wire_put_u8(&w, status);
	wire_put_str(&w, user.p, user.len);
	wire_put_u8(&w, (uint8_t)n);
	for (unsigned i = 0; i < n; i++) {
		wire_put_u8(&w, e[i].hash);
		wire_put_str(&w, e[i].salt.p, e[i].salt.len);
		wire_put_u32(&w, e[i].iter);
		wire_put_str(&w, e[i].stored_key.p, e[i].stored_key.len);
		wire_put_str(&w, e[i].server_key.p, e[i].server_key.len);
	}
	return wire_end(&w);
}

int wire_get_cred(const struct wire_frame *f, uint8_t *status, struct wire_str *user,
		  struct wire_cred_entry *e, unsigned *n)
{
	struct wire_reader r;
	wire_reader_init(&r, f);
	*n = 0;
	*status = wire_get_u8(&r);
	*user = wire_get_str(&r);
	unsigned count = wire_get_u8(&r);
	if (count > WIRE_MAX_CREDS)
		return -EPROTO;
	for (unsigned i = 0; i < count; i++) {
		e[i].hash = wire_get_u8(&r);
		e[i].salt = wire_get_str(&r);
		e[i].iter = wire_get_u32(&r);
		e[i].stored_key = wire_get_str(&r);
		e[i].server_key = wire_get_str(&r);
	}
	*n = count;
	return r.err;
}

static int put_attr(struct buf *out, const char *name, struct wire_str v)
{
	if (!v.len)
		return 0;
	if (buf_append_str(out, name) || buf_append_xml_escaped(out, v.p, v.len) ||
	    buf_append(out, "\"", 1))
		return -ENOMEM;
	return 0;
}

int wire_stanza_render(struct buf *out, const struct wire_stanza *s)
{
	/* Splice after the element name: "<message" + attrs + rest. */
	uint32_t name_end = 1;
	while (name_end < s->xml.len && s->xml.p[name_end] != ' ' && s->xml.p[name_end] != '>' &&
	       s->xml.p[name_end] != '/' && s->xml.p[name_end] != '\t' &&
	       s->xml.p[name_end] != '\n' && s->xml.p[name_end] != '\r')
		name_end++;
	if (s->xml.len < 2 || s->xml.p[0] != '<')
		return -EPROTO;
	uint32_t mark = out->len;
	if (buf_append(out, s->xml.p, name_end) || put_attr(out, " from=\"", s->from) ||
	    put_attr(out, " to=\"", s->to) ||
	    buf_append(out, s->xml.p + name_end, s->xml.len - name_end)) {
		if (out->len >= mark)
			out->len = mark;
		return -ENOMEM;
	}
	return 0;
}

char *wire_strdup(struct wire_str s)
{
	char *c = malloc((size_t)s.len + 1);
	if (c) {
		if (s.len)
			memcpy(c, s.p, s.len);
		c[s.len] = 0;
	}
	return c;
}

int wire_str_eq(struct wire_str s, const char *c)
{
	size_t n = strlen(c);
	return n == s.len && !memcmp(s.p, c, n);
}

/* RFC 6120 §4.9.3.1 .. §4.9.3.25, in the RFC's order. */
const char *const wire_conditions[WIRE_CONDITION_COUNT] = {
	"bad-format", "bad-namespace-prefix", "conflict", "connection-timeout",
	"host-gone", "host-unknown", "improper-addressing", "internal-server-error",
	"invalid-from", "invalid-namespace", "invalid-xml", "not-authorized",
	"not-well-formed", "policy-violation", "remote-connection-failed", "reset",
	"resource-constraint", "restricted-xml", "see-other-host", "system-shutdown",
	"undefined-condition", "unsupported-encoding", "unsupported-feature",
	"unsupported-stanza-type", "unsupported-version",
};

int wire_condition(const char *n, size_t len)
{
	for (int i = 0; i < WIRE_CONDITION_COUNT; i++)
		if (strlen(wire_conditions[i]) == len && !memcmp(wire_conditions[i], n, len))
			return i;
	return -1;
}

int wire_stanza_returnable(const struct wire_stanza *s)
{
	if (s->kind == STANZA_MESSAGE)
		return s->type == STANZA_T_NONE || s->type == STANZA_T_NORMAL ||
		       s->type == STANZA_T_CHAT;
	return s->kind == STANZA_IQ && (s->type == STANZA_T_GET || s->type == STANZA_T_SET);
}

static void put_park_state(struct wire_writer *w, const struct wire_park *p)
{
	wire_put_u32(w, p->h_in);
	wire_put_u32(w, p->acked);
	wire_put_u32(w, p->n);
	wire_put_str(w, p->q.p, p->q.len);
}

/* The queue must be exactly n well-formed STANZA_RETURN frames: the
 * receiver walks it without checking again. */
static void get_park_state(struct wire_reader *r, struct wire_park *p)
{
	p->h_in = wire_get_u32(r);
	p->acked = wire_get_u32(r);
	p->n = wire_get_u32(r);
	p->q = wire_get_str(r);
	const uint8_t *q = (const uint8_t *)p->q.p;
	size_t left = r->err ? 0 : p->q.len;
	uint32_t k = 0;
	struct wire_frame f;
	struct wire_stanza s;
	long len;
	for (; left && k <= p->n; k++, q += len, left -= (size_t)len)
		if ((len = wire_parse(q, left, &f)) <= 0 || f.type != WIRE_STANZA_RETURN ||
		    wire_get_stanza(&f, &s))
			break;
	if (!r->err && (left || k != p->n || p->q.len > WIRE_PARK_MAX_Q))
		r->err = -EPROTO;
}

int wire_put_park(struct buf *b, uint32_t sid, const struct wire_park *p)
{
	struct wire_writer w;
	wire_begin(&w, b, WIRE_SESSION_PARK, sid);
	wire_put_str(&w, p->token.p, p->token.len);
	wire_put_u32(&w, p->secs);
	put_park_state(&w, p);
	return wire_end(&w);
}

int wire_get_park(const struct wire_frame *f, struct wire_park *p)
{
	struct wire_reader r;
	memset(p, 0, sizeof *p);
	wire_reader_init(&r, f);
	p->token = wire_get_str(&r);
	p->secs = wire_get_u32(&r);
	get_park_state(&r, p);
	return r.err || r.p != r.end ? -EPROTO : 0;
}

int wire_put_unparked(struct buf *b, uint32_t sid, uint8_t status, const struct wire_park *p)
{
	static const struct wire_park none;
	struct wire_writer w;
	wire_begin(&w, b, WIRE_SESSION_UNPARKED, sid);
	wire_put_u8(&w, status);
	if (status)
		p = &none;
	wire_put_str(&w, p->jid.p, p->jid.len);
	put_park_state(&w, p);
	return wire_end(&w);
}

int wire_get_unparked(const struct wire_frame *f, uint8_t *status, struct wire_park *p)
{
	struct wire_reader r;
	memset(p, 0, sizeof *p);
	wire_reader_init(&r, f);
	*status = wire_get_u8(&r);
	p->jid = wire_get_str(&r);
	get_park_state(&r, p);
	if (!r.err && has_nul(p->jid))
		r.err = -EPROTO;
	return r.err || r.p != r.end ? -EPROTO : 0;
}
