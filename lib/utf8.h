/* utf8: validation of untrusted UTF-8 before it reaches libidn or a SASL
 * profile, which assume well-formed input. */
#ifndef STARLING_UTF8_H
#define STARLING_UTF8_H
#include <stddef.h>

/* 1 when s[0..n) is well-formed UTF-8 (RFC 3629 §4: no overlong forms, no
 * surrogates, nothing above U+10FFFF), else 0. */
int utf8_valid(const char *s, size_t n);

#endif
