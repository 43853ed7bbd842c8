/* cut: a quick cut of one whole top-level element off the front of a
 * server's bytes, for the bench's busy path (issue 12).  lib/xstream scans
 * every byte through a state machine (about 19 instructions a byte, a
 * quarter of the bench's cost per chat message); here each byte is looked up
 * once in a class table by a run that ends only where the syntax does.  It takes only what it can check this way
 * and leaves everything else, unchanged, to xstream: an element split across
 * reads, comments, CDATA, processing instructions, entity or character
 * references, whitespace around '=', nesting past CUT_DEPTH.  What it takes
 * obeys the same grammar xstream enforces for such an element (names,
 * quoted attribute values without '<', matching end tags: XML 1.0 §3,
 * RFC 6120 §11.1), so the bench reads a server's stream no more loosely
 * than before; what a stanza means is still checked by xmpp.c. */
#include <string.h>

#include "cut.h"

#define CUT_DEPTH 8

/* Byte classes, one table lookup a byte.  Name classes are loose as
 * lib/xstream's (non-ASCII bytes pass); a C0 control other than TAB, LF and
 * CR (XML 1.0 [2]) stops every run, so each byte of an element the cut
 * takes is checked by the run or the tag syntax that covers it. */
enum { C_NAME_START = 1, C_NAME = 2, C_WS = 4, C_TEXT_STOP = 8, C_VAL_STOP = 16 };
#define C0_STOP C_TEXT_STOP | C_VAL_STOP
#define LETTER C_NAME_START | C_NAME
static const unsigned char cls[256] = {
	[0 ... 8] = C0_STOP, [0xb ... 0xc] = C0_STOP, [0xe ... 0x1f] = C0_STOP,
	['\t'] = C_WS, ['\n'] = C_WS, ['\r'] = C_WS, [' '] = C_WS,
	['a' ... 'z'] = LETTER, ['A' ... 'Z'] = LETTER, ['_'] = LETTER, [':'] = LETTER,
	[0x80 ... 0xff] = LETTER,
	['0' ... '9'] = C_NAME, ['-'] = C_NAME, ['.'] = C_NAME,
	['<'] = C_TEXT_STOP | C_VAL_STOP, ['&'] = C_TEXT_STOP | C_VAL_STOP,
	['"'] = C_VAL_STOP, ['\''] = C_VAL_STOP,
};

static unsigned class_of(const char *s) { return cls[(unsigned char)*s]; }

/* The end of the name at s, or s when none starts there. */
static const char *name_end(const char *s, const char *end)
{
	if (s >= end || !(class_of(s) & C_NAME_START))
		return s;
	while (++s < end && (class_of(s) & C_NAME))
		;
	return s;
}

/* The first byte from s of class stop, or NULL when none is before end. */
static const char *run_to(const char *s, const char *end, unsigned stop)
{
	while (s < end && !(class_of(s) & stop))
		s++;
	return s < end ? s : NULL;
}

/* Text without markup, references or controls up to the next '<' (what
 * xstream would take as plain character data), or NULL. */
static const char *text_end(const char *s, const char *end)
{
	s = run_to(s, end, C_TEXT_STOP);
	return s && *s == '<' ? s : NULL;
}

/* An attribute value from its opening quote at s: just past the closing
 * quote, or NULL (XML 1.0 [10] AttValue: no '<'; references left). */
static const char *value_end(const char *s, const char *end)
{
	char q = *s;
	for (s++; (s = run_to(s, end, C_VAL_STOP)) && *s != q; s++)
		if (*s != '"' && *s != '\'')
			return NULL;
	return s ? s + 1 : NULL;
}

/* The attributes of a start tag from s (just after its name): at the '>'
 * or "/>" that ends it, or NULL.  XML 1.0 [40]: S Name '=' AttValue, each
 * attribute after whitespace. */
static const char *attrs_end(const char *s, const char *end)
{
	for (;;) {
		const char *a = s;
		while (s < end && (class_of(s) & C_WS))
			s++;
		if (s < end && (*s == '>' || *s == '/'))
			return s;
		const char *n = s;
		s = name_end(s, end);
		if (s == n || a == n || end - s < 2 || s[0] != '=' || (s[1] != '"' && s[1] != '\''))
			return NULL;
		if (!(s = value_end(s + 1, end)))
			return NULL;
	}
}

size_t cut_element(const char *p, size_t len)
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
