/* fuzz_digest_md5: the server side of DIGEST-MD5 on hostile input.  The
 * input is a client's digest-response; it is parsed, checked against the
 * RFC 2831 §4 example's challenge and verified with the example's
 * credentials, so the seeds reach a successful verification. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/digest_md5.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t urp[DIGEST_MD5_URP_LEN];
	static int ready;
	if (!ready && digest_md5_urp("chris", "elwood.innosoft.com", "secret", urp))
		abort();
	ready = 1;
	struct digest_md5_resp r;
	char out[DIGEST_MD5_HEX_LEN + 1];
	if (digest_md5_parse((const char *)data, size, &r))
		return 0;
	for (int i = 0; i < DM_FIELDS; i++)
		if (r.v[i] && strlen(r.v[i]) > size)
			abort(); /* every value lies inside a copy of the input */
	int ok = digest_md5_check(&r, "elwood.innosoft.com", "OA6MG9tEQGm2hh",
				  "imap/elwood.innosoft.com") == 0;
	if (digest_md5_response(urp, &r, 1, out) || strlen(out) != DIGEST_MD5_HEX_LEN)
		abort();
	if (ok && digest_md5_verify(urp, &r) &&
	    (strcmp(r.v[DM_CNONCE], "OA6MHXh6VqTrRk") || (r.v[DM_AUTHZID] && *r.v[DM_AUTHZID])))
		abort(); /* the example's response answers only the example's exchange */
	digest_md5_resp_free(&r);
	return 0;
}
