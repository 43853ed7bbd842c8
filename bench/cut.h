/* cut: the bench's quick cut of whole top-level elements (cut.c). */
#ifndef STARLING_BENCH_CUT_H
#define STARLING_BENCH_CUT_H
#include <stddef.h>

/* The length of the whole element at the start of p (p[0] == '<'), or 0
 * when it is not all there or has anything the quick cut leaves to
 * lib/xstream (which must then read these bytes). */
size_t cut_element(const char *p, size_t len);

#endif
