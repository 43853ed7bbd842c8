/* fuzz_bench: starling-bench's reading of a server's stream (bench/xmpp.c).
 * A load generator meets broken servers too: whatever arrives, it must fail
 * the connection with a cause and never crash or leak.
 *
 * Input: byte 0 picks the scenario (low 2 bits), SASL mechanism (next
 * 2 bits), --faults (bit 4: numbered messages, bounces, XEP-0198 acks
 * and requests are read too) and --sasl2 (bit 5: XEP-0388 with Bind 2
 * from the SASL features on); byte 1 the state the connection starts in (stream features for
 * TLS, SASL or bind; the bind or roster answer; online); the rest is the
 * server's bytes, cut into reads at each 0xfe byte.  Online, reads that
 * start a stanza go through the quick cut (bench/cut.c); whatever it takes
 * of a read, lib/xstream must take as the same one element. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench.h"
#include "tests/unit/cut_agree.h"

uint64_t bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static const uint8_t starts[] = { CS_FEATURES_TLS, CS_FEATURES_SASL, CS_FEATURES_BIND,
				  CS_BIND, CS_ROSTER, CS_ONLINE };

static struct bench_run *new_run(uint8_t sel)
{
	static SSL_CTX *ctx;
	char err[128];
	if (!ctx)
		ctx = tls_client_ctx(NULL, err, sizeof err); /* kept for the process */
	struct bench_run *r = calloc(1, sizeof *r);
	if (!r || !ctx)
		abort();
	opts_defaults(&r->opt);
	r->opt.scenario = (enum bench_scenario)(sel & 3);
	r->opt.mech = (enum bench_mech)((sel >> 2) % 3);
	r->opt.n = 4;
	r->opt.contacts = 2;
	r->opt.faults = (sel >> 4) & 1;
	r->opt.sasl2 = (sel >> 5) & 1;
	r->ctx = ctx;
	r->nconns = r->opt.n;
	r->conns = calloc(r->opt.n, sizeof *r->conns);
	if (!r->conns || (r->opt.faults && faults_init(r)))
		abort();
	if (r->opt.faults) { /* messages m0..m7 sent, acknowledgements counted */
		struct fault_conn *f = r->conns[0].fl;
		r->conns[0].seq = 8;
		f->marks = calloc(8, 1);
		f->marks_cap = 8;
		f->sm_on = f->sm_enabled = 1;
		f->sm_out = 9;
		if (!f->marks)
			abort();
	}
	hist_init(&r->login_lat);
	hist_init(&r->msg_lat);
	hist_init(&r->step_lat);
	hist_init(&r->sec_lat);
	hist_init(&r->ping_lat);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	struct bench_run *r = new_run(data[0]);
	struct bench_conn *c = &r->conns[0];
	c->fd = -1;
	c->want_presence = 1;
	c->pinged = 1;
	if (xmpp_connected(r, c) == 0) {
		c->state = starts[data[1] % sizeof starts];
		if (c->state >= CS_ROSTER)
			c->jid = strdup("user1@localhost/bench0");
		const uint8_t *p = data + 2, *end = data + size;
		while (p < end && c->state != CS_DEAD) {
			const uint8_t *cut = memchr(p, 0xfe, (size_t)(end - p));
			size_t n = cut ? (size_t)(cut - p) : (size_t)(end - p);
			if (cut_agree((const char *)p, n) < 0)
				abort();
			if (xmpp_input(r, c, (const char *)p, n))
				break;
			p += n + (cut != NULL);
		}
	}
	xmpp_close(c);
	xmpp_free(c);
	for (unsigned i = 0; i < r->nconns; i++)
		faults_free(&r->conns[i]);
	free(r->conns);
	free(r);
	return 0;
}
