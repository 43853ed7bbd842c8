/* fuzz_record: the lean TLS 1.3 record layer (tls/record.c) reading what a
 * hostile peer sends: a server to starling-bench, or a client to
 * starling-cm (which reads with rec_read_n and stops and resumes where a
 * delivery says so).  The input picks a cipher suite, the side and a cut
 * size, then
 * lists pieces: raw bytes put on the wire as they are, or a TLSInnerPlaintext
 * (any content, type and padding) sealed under the server's real key, so that
 * the fuzzer reaches the parsing behind the authentication tag. */
#include <stdint.h>
#include <string.h>

#include "tls/record.h"

static int deliver(void *arg, const char *data, size_t len)
{
	size_t *total = arg;
	for (size_t i = 0; i < len; i++) /* touch every byte for ASan */
		*total += (unsigned char)data[i];
	return 0;
}

/* As the cm's: stop after some records (a handoff), to be resumed. */
static int deliver_stop(void *arg, const char *data, size_t len)
{
	deliver(arg, data, len);
	return (*(size_t *)arg & 3) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	static const unsigned suites[] = { 0x1301, 0x1302, 0x1303 };
	unsigned suite = suites[data[0] % 3];
	int server = data[0] >= 128;
	size_t hash_len = suite == 0x1302 ? 48 : 32, cut = data[1];
	uint8_t cs[48], ss[48];
	memset(cs, 0xc1, sizeof cs);
	memset(ss, 0x5e, sizeof ss);
	struct rec_state cli = { 0 }, srv = { 0 };
	if (rec_set_secrets(&cli, suite, cs, ss, hash_len) ||
	    rec_set_secrets(&srv, suite, ss, cs, hash_len))
		__builtin_trap();
	cli.is_server = (uint8_t)server;

	struct buf wire = { 0 }, out = { 0 };
	const uint8_t *p = data + 2, *end = data + size;
	while (end - p >= 2) {
		uint8_t op = p[0];
		size_t n = p[1] | (size_t)(op & 0x7e) << 7; /* up to 16 KiB */
		p += 2;
		if (n > (size_t)(end - p))
			n = (size_t)(end - p);
		if (op & 1)
			rec_seal_inner(&srv, p, n, &wire);
		else
			buf_append(&wire, p, n);
		p += n;
	}
	size_t total = 0;
	const uint8_t *w = (const uint8_t *)buf_head(&wire);
	size_t left = buf_avail(&wire);
	while (left) {
		size_t k = cut && cut < left ? cut : left, used = 0;
		if (!server) {
			if (rec_read(&cli, w, k, &out, deliver, &total))
				break;
			used = k;
		} else {
			int rc = rec_read_n(&cli, w, k, &out, deliver_stop, &total, &used);
			if (used > k || (!rc && used != k))
				__builtin_trap();
			if (rc < 0)
				break;
		}
		w += used;
		left -= used;
	}
	rec_free(&cli);
	rec_free(&srv);
	buf_free(&wire);
	buf_free(&out);
	return 0;
}
