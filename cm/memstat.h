/* memstat: where the cm's memory goes, for operators and for
 * docs/performance.md.  On SIGUSR2 the cm logs one line: heap bytes in use
 * (jemalloc's own count), of which OpenSSL's, and the connections held. */
#ifndef STARLING_CM_MEMSTAT_H
#define STARLING_CM_MEMSTAT_H
#include <stdint.h>

/* Route OpenSSL's allocations through counting wrappers.  Must run before
 * any other OpenSSL call; does nothing unless STARLING_OPENSSL_STATS=1 is in
 * the environment, since the count costs two atomics per allocation. */
void memstat_init(void);
/* Log the line; conns = connections currently held by all workers. */
void memstat_log(uint64_t conns);

#endif
