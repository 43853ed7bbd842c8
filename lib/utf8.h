/* utf8: validation of untrusted UTF-8 before it reaches libidn or a SASL
 * profile, which assume well-formed input, and the character checks the XML
 * readers (lib/xstream.c, lib/stanza_fast.c) share. */
#ifndef STARLING_UTF8_H
#define STARLING_UTF8_H
#include <stddef.h>
#include <stdint.h>

/* 1 when s[0..n) is well-formed UTF-8 (RFC 3629 §4: no overlong forms, no
 * surrogates, nothing above U+10FFFF), else 0. */
int utf8_valid(const char *s, size_t n);
/* The length of the well-formed character at s (s < end) by the same rules,
 * its code point in *cp; 0 when there is none. */
size_t utf8_next(const char *s, const char *end, uint32_t *cp);
/* 1 when XML 1.0 allows the code point in a document ([2] Char). */
int utf8_xml_char(uint32_t cp);

#endif
