/* fuzz_scram: the server side of SCRAM on hostile input.  Input: one flags
 * byte (bit 0: SHA-256, bit 1: fake creds, bits 2-3: enum scram_cb_mode,
 * bit 4: XEP-0474 h= in server-first), then client-first-message '\n'
 * client-final-message.  Creds and server nonce are the RFC 5802 / RFC 7677
 * examples', and a -PLUS exchange binds to FUZZ_CBIND, so the seeds can
 * reach a successful exchange. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/scram.h"

#define FUZZ_CBIND "fuzz-channel-binding-data"

static struct scram_creds fuzz_creds[2];
static int fuzz_ready;

static void fuzz_init(void)
{
	static const char *salts[2] = {"QSXCR+Q6sek8bf92", "W22ZaJ0SNY7soEsUEjb6gQ=="};
	for (int i = 0; i < 2; i++) {
		size_t n;
		uint8_t *salt = base64_decode(salts[i], strlen(salts[i]), &n);
		if (!salt || scram_derive(i ? SCRAM_SHA256 : SCRAM_SHA1, "pencil", salt, n, 4096,
					  &fuzz_creds[i]))
			abort();
		free(salt);
	}
	fuzz_ready = 1;
}

static void run_server(uint8_t flags, const char *first, size_t flen, const char *final,
		       size_t fnlen)
{
	static const char *nonces[2] = {"3rfcNHYJY1ZVvWVs7j", "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"};
	int i = flags & 1;
	enum scram_hash h = i ? SCRAM_SHA256 : SCRAM_SHA1;
	struct scram_server s;
	struct scram_creds fake;
	const struct scram_creds *c = &fuzz_creds[i];
	const char *sf;
	char *out = NULL;
	static const char *mechs[] = {"SCRAM-SHA-1", "SCRAM-SHA-256-PLUS"};
	static const char *cbs[] = {"tls-exporter"};
	enum scram_cb_mode mode = (enum scram_cb_mode)((flags >> 2) & 3);
	if (scram_server_start_cb(&s, h, mode, first, flen) == 0) {
		if ((s.cb_name != NULL) != (mode == SCRAM_CB_PLUS))
			abort(); /* a -PLUS exchange names a type, and only it */
		if (s.cb_name && scram_server_set_cbind(&s, (const uint8_t *)FUZZ_CBIND,
							strlen(FUZZ_CBIND)))
			abort();
		if ((flags & 16) && scram_server_set_ssdp(&s, mechs, 2, cbs, 1))
			abort();
		if (flags & 2) {
			if (scram_fake_creds(h, s.username, 4096, &fake))
				abort();
			c = &fake;
		}
		if (scram_server_first_with_nonce(&s, c, nonces[i], &sf))
			abort(); /* a parsed client-first always gets an answer */
		int rc = scram_server_final(&s, final, fnlen, &out);
		if ((rc == 0) != (out != NULL) || (rc == 0 && (flags & 2)))
			abort(); /* fake creds must never authenticate */
		free(out);
	}
	scram_server_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!fuzz_ready)
		fuzz_init();
	if (size < 1)
		return 0;
	const char *p = (const char *)data + 1, *end = (const char *)data + size;
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	const char *final = nl ? nl + 1 : end;
	run_server(data[0], p, (size_t)((nl ? nl : end) - p), final, (size_t)(end - final));
	/* base64 on the raw input too. */
	size_t n;
	free(base64_decode((const char *)data, size, &n));
	return 0;
}
