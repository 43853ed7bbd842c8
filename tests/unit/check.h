/* check: the unit tests' few macros.  Each test binary ends with
 * CHECK_DONE(), which prints the closing "N passed, N failed" line. */
#ifndef STARLING_CHECK_H
#define STARLING_CHECK_H
#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (cond)                                                                          \
			check_passed++;                                                            \
		else {                                                                             \
			check_failed++;                                                            \
			fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);            \
		}                                                                                  \
	} while (0)

#define CHECK_STR(a, b)                                                                            \
	do {                                                                                       \
		const char *check_a_ = (a), *check_b_ = (b);                                       \
		if (check_a_ && check_b_ && !strcmp(check_a_, check_b_))                           \
			check_passed++;                                                            \
		else {                                                                             \
			check_failed++;                                                            \
			fprintf(stderr, "FAIL %s:%d: \"%s\" != \"%s\"\n", __FILE__, __LINE__,      \
				check_a_ ? check_a_ : "(null)", check_b_ ? check_b_ : "(null)");   \
		}                                                                                  \
	} while (0)

#define CHECK_DONE()                                                                               \
	do {                                                                                       \
		printf("%d passed, %d failed\n", check_passed, check_failed);                     \
		return check_failed ? 1 : 0;                                                       \
	} while (0)

#endif
