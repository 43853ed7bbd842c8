/* randpool: unpredictable bytes for identifiers and nonces (stream ids,
 * resources, SCRAM nonces, resumption tokens), drawn from OpenSSL's DRBG a
 * pool at a time.  OpenSSL 3.0 spends about 20,000 instructions on a call to
 * RAND_bytes whatever its size, and a login made five.  Keys and salts do
 * not come from here: they keep RAND_bytes / RAND_priv_bytes. */
#ifndef STARLING_RANDPOOL_H
#define STARLING_RANDPOOL_H
#include <stddef.h>

/* n bytes into out.  Returns 0, or -EIO when the DRBG fails. */
int randpool_bytes(void *out, size_t n);

/* 2 * bytes lowercase hex digits and a NUL into out.  Returns 0 or -EIO. */
int randpool_hex(char *out, size_t bytes);

#endif
