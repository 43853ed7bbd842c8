/* fuzz_jid: jid_parse() on any input; a parsed JID must format and parse
 * back to itself (preparation is idempotent and the split is unambiguous).
 * The ASCII fast path of lib/jid.c must agree with libidn itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <stringprep.h>

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

/* Same verdict and output as libidn's profile applied directly. */
static void check_against_libidn(const char *s, const char *profile,
				 int (*ours)(const char *, char *, size_t))
{
	char mine[4096];
	char *theirs = NULL;
	int a = ours(s, mine, sizeof mine);
	int b = *s ? stringprep_profile(s, &theirs, profile, 0) : STRINGPREP_PROFILE_ERROR;
	int b_ok = b == STRINGPREP_OK && *theirs && strlen(theirs) <= JID_PART_MAX;
	if ((a == 0) != b_ok || (b_ok && strcmp(mine, theirs)))
		abort();
	free(theirs);
}

static int printable_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
			return 0;
	return 1;
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
	if (printable_ascii(s) && size <= 1023) {
		check_against_libidn(s, "Nodeprep", jid_prep_local);
		check_against_libidn(s, "Resourceprep", jid_prep_resource);
	}
	free(s);
	return 0;
}
