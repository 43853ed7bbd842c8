#include "buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

char *buf_reserve(struct buf *b, size_t n)
{
	if (b->off && b->off == b->len)
		b->off = b->len = 0;
	if (n > BUF_MAX || b->len + n > BUF_MAX)
		return NULL;
	if (b->len + n > b->cap && b->off) {
		/* Reclaim the consumed front before growing. */
		memmove(b->data, b->data + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n)
			cap *= 2;
		if (cap > BUF_MAX)
			cap = BUF_MAX;
		char *d = realloc(b->data, cap);
		if (!d)
			return NULL;
		b->data = d;
		b->cap = (uint32_t)cap;
	}
	return b->data + b->len;
}

void buf_commit(struct buf *b, size_t n) { b->len += (uint32_t)n; }

int buf_append(struct buf *b, const void *p, size_t n)
{
	if (!n)
		return 0;
	char *w = buf_reserve(b, n);
	if (!w)
		return -ENOMEM;
	memcpy(w, p, n);
	b->len += (uint32_t)n;
	return 0;
}

int buf_append_str(struct buf *b, const char *s) { return buf_append(b, s, strlen(s)); }

int buf_append_xml_escaped(struct buf *b, const char *s, size_t n)
{
	size_t start = 0;
	for (size_t i = 0; i < n; i++) {
		const char *rep;
		switch (s[i]) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&apos;"; break;
		/* Kept as they are in attribute values, which XML 1.0 §3.3.3
		 * would normalise to spaces; the same characters in text. */
		case '\t': rep = "&#9;"; break;
		case '\n': rep = "&#10;"; break;
		case '\r': rep = "&#13;"; break;
		default: continue;
		}
		if (buf_append(b, s + start, i - start) || buf_append_str(b, rep))
			return -ENOMEM;
		start = i + 1;
	}
	return buf_append(b, s + start, n - start);
}

void buf_consume(struct buf *b, size_t n)
{
	b->off += (uint32_t)n;
	if (b->off >= b->len)
		buf_free(b);
}

void buf_drop(struct buf *b, size_t n, size_t keep_max)
{
	b->off += (uint32_t)n;
	if (b->off < b->len)
		return;
	if (b->cap > keep_max)
		buf_free(b);
	else
		b->off = b->len = 0;
}

void buf_reset(struct buf *b) { buf_free(b); }

void buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->off = b->len = b->cap = 0;
}
