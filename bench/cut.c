/* cut: a quick cut of one whole top-level element off the front of a
 * server's bytes, for the bench's busy path (issue 12).  lib/xstream scans
 * every byte through a state machine (about 19 instructions a byte, a
 * quarter of the bench's cost per chat message); here memchr() jumps from
 * one '<' or quote to the next.  It takes only what it can check this way
 * and leaves everything else, unchanged, to xstream: an element split across
 * reads, comments, CDATA, processing instructions, entity or character
 * references, whitespace around '=', nesting past CUT_DEPTH.  What it takes
 * obeys the same grammar xstream enforces for such an element (names,
 * quoted attribute values without '<', matching end tags: XML 1.0 §3,
 * RFC 6120 §11.1), so the bench reads a server's stream no more loosely
 * than before; what a stanza means is still checked by xmpp.c. */
#include <stdint.h>
#include <string.h>

#include "cut.h"

#define CUT_DEPTH 8

/* Loose XML name classes, as lib/xstream's: non-ASCII bytes pass. */
static int name_start(unsigned char c)
{
	return (unsigned)((c | 0x20) - 'a') < 26 || c == '_' || c == ':' || c >= 0x80;
}

static int name_char(unsigned char c)
{
	return name_start(c) || (unsigned)(c - '0') < 10 || c == '-' || c == '.';
}

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* The end of the name at s, or s when none starts there. */
static const char *name_end(const char *s, const char *end)
{
	if (s >= end || !name_start((unsigned char)*s))
		return s;
	while (++s < end && name_char((unsigned char)*s))
		;
	return s;
}

/* Text without markup or references up to the next '<' (what xstream would
 * take as plain character data), or NULL. */
static const char *text_end(const char *s, const char *end)
{
	const char *lt = memchr(s, '<', (size_t)(end - s));
	return lt && !memchr(s, '&', (size_t)(lt - s)) ? lt : NULL;
}

/* The attributes of a start tag from s (just after its name): at the '>'
 * or "/>" that ends it, or NULL.  XML 1.0 [40]: S Name '=' AttValue, each
 * attribute after whitespace. */
static const char *attrs_end(const char *s, const char *end)
{
	for (;;) {
		const char *a = s;
		while (s < end && is_ws(*s))
			s++;
		if (s < end && (*s == '>' || *s == '/'))
			return s;
		const char *n = s;
		s = name_end(s, end);
		if (s == n || a == n || end - s < 2 || s[0] != '=' || (s[1] != '"' && s[1] != '\''))
			return NULL;
		const char *v = s + 2, *q = memchr(v, s[1], (size_t)(end - v));
		if (!q || memchr(v, '<', (size_t)(q - v)) || memchr(v, '&', (size_t)(q - v)))
			return NULL;
		s = q + 1;
	}
}

/* XML 1.0 [2]: no C0 control but TAB, LF and CR, checked eight bytes at a
 * time (a word with no byte below 0x20 passes at once). */
static int chars_ok(const char *p, size_t n)
{
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		if (!((w - 0x2020202020202020ull) & ~w & 0x8080808080808080ull))
			continue;
		for (size_t j = i; j < i + 8; j++)
			if ((unsigned char)p[j] < 0x20 && !is_ws(p[j]))
				return 0;
	}
	for (; i < n; i++)
		if ((unsigned char)p[i] < 0x20 && !is_ws(p[i]))
			return 0;
	return 1;
}

static size_t cut_tags(const char *p, size_t len)
{
	const char *s = p, *end = p + len, *open[CUT_DEPTH];
	size_t olen[CUT_DEPTH];
	unsigned depth = 0;
	while (s < end && *s == '<') {
		if (++s < end && *s == '/') { /* an end tag names the innermost open element */
			size_t n = depth ? olen[--depth] : 0;
			if (!n || (size_t)(end - ++s) <= n || memcmp(s, open[depth], n) || s[n] != '>')
				return 0;
			s += n + 1;
		} else {
			const char *n = s, *t = attrs_end(s = name_end(s, end), end);
			if (s == n || !t || (*t == '/' && (end - t < 2 || t[1] != '>')))
				return 0;
			if (*t == '>') {
				if (depth == CUT_DEPTH)
					return 0;
				open[depth] = n;
				olen[depth++] = (size_t)(s - n);
			}
			s = t + (*t == '>' ? 1 : 2);
		}
		if (!depth)
			return (size_t)(s - p);
		s = text_end(s, end);
		if (!s)
			return 0;
	}
	return 0;
}

size_t cut_element(const char *p, size_t len)
{
	size_t n = cut_tags(p, len);
	return n && chars_ok(p, n) ? n : 0;
}
