/* certs: a throwaway certificate directory for the TLS unit tests, made with
 * scripts/mkcert.sh (so they run from the repository root). */
#ifndef STARLING_TEST_CERTS_H
#define STARLING_TEST_CERTS_H
#include <stdio.h>
#include <stdlib.h>

/* dir/cert.pem and dir/key.pem for "localhost", and with other also a second
 * pair in dir/other.  Returns 0 or -1. */
static int certs_make(const char *dir, int other)
{
	char cmd[600];
	snprintf(cmd, sizeof cmd, "sh scripts/mkcert.sh %s localhost >/dev/null 2>&1%s%s%s", dir,
		 other ? " && sh scripts/mkcert.sh " : "", other ? dir : "",
		 other ? "/other localhost >/dev/null 2>&1" : "");
	return system(cmd) == 0 ? 0 : -1;
}

/* Returns 0 or -1 (the directory may be left behind). */
static int certs_remove(const char *dir)
{
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

#endif
