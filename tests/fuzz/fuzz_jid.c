/* fuzz_jid: jid_parse() on any input; a parsed JID must format and parse
 * back to itself (preparation is idempotent and the split is unambiguous). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/jid.h"

static void check_roundtrip(const struct jid *j)
{
	char *full = jid_full(j), *bare = jid_bare(j), *again = NULL;
	struct jid k;
	if (!full || !bare)
		abort();
	if (jid_parse(full, &k) != 0)
		abort();
	again = jid_full(&k);
	if (!again || strcmp(again, full))
		abort();
	if (strncmp(full, bare, strlen(bare)))
		abort();
	free(again);
	free(full);
	free(bare);
	jid_free(&k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), out[64];
	struct jid j;
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	if (jid_parse(s, &j) == 0)
		check_roundtrip(&j);
	jid_free(&j);
	/* The single-part helpers with a small output buffer. */
	(void)jid_prep_local(s, out, sizeof out);
	(void)jid_prep_domain(s, out, sizeof out);
	(void)jid_prep_resource(s, out, sizeof out);
	free(s);
	return 0;
}
