/* fuzz_config: config_load() on arbitrary file contents.  The file is a
 * memfd reached through /proc/self/fd, so no disk writes per input. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/config.h"

static void fuzz_config_invariants(const struct config *c)
{
	/* A successful load must only ever yield values that passed validation. */
	if (!c->domain[0] || !c->c2s_port || c->c2s_port == c->c2s_tls_port ||
	    c->max_stanza_size < 10000 || c->scram_iterations < 4096 || !c->tls_cert[0])
		abort();
	for (const char *p = c->domain; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	if (fd < 0 && (fd = memfd_create("fuzz_config", 0)) < 0)
		abort();
	if (ftruncate(fd, 0) || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	char path[64], err[512];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	struct config c;
	config_defaults(&c);
	err[0] = '\0';
	if (config_load(path, &c, err, sizeof err) == 0)
		fuzz_config_invariants(&c);
	else if (strncmp(err, path, strlen(path)))
		abort(); /* every error names the file */
	return 0;
}
