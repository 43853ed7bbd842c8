/* tls_floor: what OpenSSL alone charges the cm for one TLS 1.3 handshake,
 * with no socket, no kernel, no XML: the floor under the cm's CPU per login
 * (docs/performance.md, "Logins").  Client and server run in this one
 * thread over memory (tls/tls.h's io), and only the server's calls are
 * timed, with the thread's CPU clock: SSL_new, the handshake, the takeover
 * of the records (tls/lean.h) and SSL_free, as the cm does them.
 *
 *   build/bench/tls_floor CERT KEY N [MODE[,MODE...]]
 *
 * bare: an SSL_CTX as OpenSSL makes it, with only the certificate and key
 * (its defaults: two tickets, the client's suite order); notickets: ours
 * without session tickets; nolean: ours without the takeover; cb: ours
 * with the channel-binding data captured (`[c2s] channel_binding`); resume:
 * each client offering the ticket of the handshake before (RFC 8446 §2.2,
 * with a fresh key exchange: psk_dhe_ke, what clients offer).  Modes
 * combine: "nolean,resume". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../lib/buf.h"
#include "../../tls/lean.h"
#include "../../tls/server.h"
#include "../../tls/tls.h"

static double thread_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

/* Hands what one side wrote to the other's io. */
static void pass(struct buf *from, struct tls_io *to)
{
	to->in = (const uint8_t *)buf_head(from);
	to->in_len = buf_avail(from);
}

static void consumed(struct buf *from, const struct tls_io *io)
{
	buf_consume(from, buf_avail(from) - io->in_len);
}

struct run {
	SSL_CTX *sctx, *cctx;
	SSL_SESSION *ticket; /* resume: the last handshake's, offered by the next */
	int lean, resume;
	int resumed;
	unsigned cb;
	double server_us;
};

/* One handshake; -1 when it failed. */
static int one(struct run *r)
{
	struct buf c2s = {0}, s2c = {0};
	struct tls_io sio = { .out = &s2c }, cio = { .out = &c2s };
	SSL *c = tls_new(r->cctx, &cio, 0, "localhost");
	if (c && r->ticket)
		SSL_set_session(c, r->ticket);
	double t0 = thread_us();
	SSL *s = tls_new(r->sctx, &sio, 1, NULL);
	struct tls_lean *l = r->lean ? tls_lean_new(s) : NULL;
	r->server_us += thread_us() - t0;
	int rc = -1, sdone = 0;
	if (!c || !s || tls_handshake(c) < 0)
		goto out;
	for (int round = 0; round < 4 && !sdone; round++) {
		pass(&c2s, &sio);
		size_t before = buf_avail(&s2c);
		t0 = thread_us();
		sdone = tls_handshake(s);
		if (sdone == 1 && l) {
			const uint8_t *w = (const uint8_t *)buf_head(&s2c) + before;
			if (tls_lean_start(l, s, w, buf_avail(&s2c) - before, r->cb))
				sdone = -1;
		}
		r->server_us += thread_us() - t0;
		consumed(&c2s, &sio);
		if (sdone < 0)
			goto out;
		pass(&s2c, &cio);
		if (tls_handshake(c) < 0)
			goto out;
		consumed(&s2c, &cio);
	}
	rc = sdone == 1 ? 0 : -1;
	if (!rc && r->resume) {
		/* The ticket came after the server's Finished: read it. */
		char plain[64];
		pass(&s2c, &cio);
		while (tls_read(c, plain, sizeof plain) > 0)
			;
		r->resumed += SSL_session_reused(c);
		SSL_SESSION_free(r->ticket);
		r->ticket = SSL_get1_session(c);
		tls_shutdown(c); /* freed without a close_notify, the session would be void */
	}
out:
	t0 = thread_us();
	SSL_free(s);
	tls_lean_free(l);
	r->server_us += thread_us() - t0;
	SSL_free(c);
	buf_free(&c2s);
	buf_free(&s2c);
	return rc;
}

static SSL_CTX *bare_ctx(const char *cert, const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx && SSL_CTX_use_certificate_chain_file(ctx, cert) == 1 &&
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) == 1)
		return ctx;
	SSL_CTX_free(ctx);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s CERT KEY N [bare|notickets|nolean|cb|resume][,...]\n", argv[0]);
		return 2;
	}
	const char *mode = argc > 4 ? argv[4] : "ours";
	struct tls_server_opts o = { .cert = argv[1], .key = argv[2], .session_tickets = 1,
				     .lean_records = 1 };
	char err[256];
	struct run r = { .lean = 1, .cctx = tls_client_ctx(NULL, err, sizeof err) };
	if (strstr(mode, "notickets"))
		o.session_tickets = 0;
	if (strstr(mode, "nolean"))
		o.lean_records = 0, r.lean = 0;
	if (strstr(mode, "resume")) {
		r.resume = 1;
		SSL_CTX_set_session_cache_mode(r.cctx, SSL_SESS_CACHE_CLIENT);
	}
	if (strstr(mode, "cb"))
		r.cb = TLS_CB_EXPORTER | TLS_CB_SERVER_END_POINT;
	if (strstr(mode, "bare")) {
		r.sctx = bare_ctx(argv[1], argv[2]);
		r.lean = 0;
		snprintf(err, sizeof err, "cannot load %s / %s", argv[1], argv[2]);
	} else {
		r.sctx = tls_server_new(&o, err, sizeof err);
	}
	if (!r.sctx || !r.cctx) {
		fprintf(stderr, "tls_floor: %s\n", err);
		return 1;
	}
	int n = atoi(argv[3]);
	for (int i = 0; i < 50; i++) /* warm: the first handshakes fill caches */
		one(&r);
	r.server_us = 0;
	r.resumed = 0;
	double t0 = thread_us();
	for (int i = 0; i < n; i++)
		if (one(&r)) {
			fprintf(stderr, "tls_floor: handshake %d failed: %s\n", i,
				tls_error_string(err, sizeof err));
			return 1;
		}
	double all = thread_us() - t0;
	printf("%s: %d handshakes (%d resumed), server %.1f us each, client %.1f us each\n",
	       mode, n, r.resumed, r.server_us / n, (all - r.server_us) / n);
	SSL_SESSION_free(r.ticket);
	return 0;
}
