/* test_record: a client handshakes with OpenSSL, hands the connection to the
 * lean TLS 1.3 record layer (tls/record.c) and keeps talking to a real
 * OpenSSL server: every cipher suite, tickets, key updates both ways,
 * ciphertext cut at every size, tampering, close_notify.  Then the mirror
 * image, starling-cm's side: a server taken over by tls/lean.c after its
 * tickets, talking to an OpenSSL client that pipelines data after its
 * Finished and sends KeyUpdates.  Needs the openssl
 * CLI (via scripts/mkcert.sh) and runs from the repository root. */
#include "tls/record.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "certs.h"
#include "check.h"
#include "tls/lean.h"
#include "tls/tls.h"

static unsigned rng = 4242;
static unsigned rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

struct pair {
	SSL *c, *s;		 /* c is freed once the record layer takes over */
	struct tls_io cio, sio;
	struct buf cout, sout;	 /* ciphertext each side sends */
	struct rec_state rec;
	struct buf got;		 /* plaintext the client received */
	int err;		 /* first error of rec_read */
};

static int deliver(void *arg, const char *d, size_t n)
{
	return buf_append(arg, d, n);
}

/* Server side: consume the client's ciphertext, return its plaintext. */
static int server_read(struct pair *p, struct buf *plain)
{
	char tmp[20000];
	p->sio.in = (const uint8_t *)buf_head(&p->cout);
	p->sio.in_len = buf_avail(&p->cout);
	int r;
	while ((r = tls_read(p->s, tmp, sizeof tmp)) > 0)
		if (plain && buf_append(plain, tmp, (size_t)r))
			return -ENOMEM;
	buf_consume(&p->cout, buf_avail(&p->cout));
	return r;
}

/* Client side, after the takeover: the server's ciphertext in chunks of at
 * most `chunk` bytes (0: all at once). */
static void client_read(struct pair *p, size_t chunk)
{
	const uint8_t *in = (const uint8_t *)buf_head(&p->sout);
	size_t len = buf_avail(&p->sout);
	while (len && !p->err) {
		size_t k = chunk ? 1 + rnd() % chunk : len;
		if (k > len)
			k = len;
		p->err = rec_read(&p->rec, in, k, &p->cout, deliver, &p->got);
		in += k;
		len -= k;
	}
	buf_consume(&p->sout, buf_avail(&p->sout));
}

/* Handshake the two, then hand the client over.  Returns rec_start's result. */
static int pair_open(struct pair *p, SSL_CTX *cctx, SSL_CTX *sctx)
{
	memset(p, 0, sizeof *p);
	p->cio.out = &p->cout;
	p->sio.out = &p->sout;
	p->c = tls_new(cctx, &p->cio, 0, "localhost");
	p->s = tls_new(sctx, &p->sio, 1, NULL);
	if (!p->c || !p->s)
		return -ENOMEM;
	SSL_set_app_data(p->c, &p->rec);
	int done = tls_handshake(p->c);
	for (int i = 0; i < 10 && done == 0; i++) {
		if (server_read(p, NULL) < 0)
			return -EPROTO;
		p->cio.in = (const uint8_t *)buf_head(&p->sout);
		p->cio.in_len = buf_avail(&p->sout);
		done = tls_handshake(p->c);
		buf_consume(&p->sout, buf_avail(&p->sout) - p->cio.in_len);
	}
	if (done != 1)
		return -EPROTO;
	server_read(p, NULL); /* the client's Finished; the server may send tickets */
	int rc = rec_start(&p->rec, p->c);
	if (rc == 0) {
		SSL_free(p->c);
		p->c = NULL;
	}
	return rc;
}

static void pair_close(struct pair *p)
{
	SSL_free(p->c);
	SSL_free(p->s);
	rec_free(&p->rec);
	buf_free(&p->cout);
	buf_free(&p->sout);
	buf_free(&p->got);
}

static char big[100 * 1024];

/* Data both ways, the server's cut into chunks. */
static void talk(struct pair *p, size_t chunk)
{
	struct buf plain = { 0 };
	CHECK(rec_write(&p->rec, big, sizeof big, &p->cout) == 0);
	CHECK(server_read(p, &plain) == 0);
	CHECK(buf_avail(&plain) == sizeof big && !memcmp(buf_head(&plain), big, sizeof big));
	buf_free(&plain);

	buf_free(&p->got);
	CHECK(tls_write(p->s, big, sizeof big) == 0);
	CHECK(tls_write(p->s, "tail", 4) == 0);
	client_read(p, chunk);
	CHECK(p->err == 0);
	CHECK(buf_avail(&p->got) == sizeof big + 4);
	CHECK(!memcmp(buf_head(&p->got), big, sizeof big));
	CHECK(!memcmp(buf_head(&p->got) + sizeof big, "tail", 4));
	CHECK(p->rec.part == NULL && p->rec.part_len == 0); /* nothing held between records */
}

/* RFC 8446 §4.6.3, both kinds: the client follows the server's new key and,
 * when asked, updates its own so the server can still read it. */
static void key_updates(SSL_CTX *cctx, SSL_CTX *sctx)
{
	const int kinds[] = { SSL_KEY_UPDATE_NOT_REQUESTED, SSL_KEY_UPDATE_REQUESTED };
	for (int i = 0; i < 2; i++) {
		struct pair p;
		CHECK(pair_open(&p, cctx, sctx) == 0);
		CHECK(SSL_key_update(p.s, kinds[i]) == 1);
		CHECK(tls_write(p.s, "after", 5) == 0);
		client_read(&p, 3);
		CHECK(p.err == 0 && buf_avail(&p.got) == 5 && !memcmp(buf_head(&p.got), "after", 5));
		/* Only a request is answered (a KeyUpdate record of 22 bytes). */
		CHECK(buf_avail(&p.cout) == (i ? 5 + 5 + 1 + 16 : 0));
		struct buf plain = { 0 };
		CHECK(rec_write(&p.rec, "reply", 5, &p.cout) == 0);
		CHECK(server_read(&p, &plain) == 0);
		CHECK(buf_avail(&plain) == 5 && !memcmp(buf_head(&plain), "reply", 5));
		buf_free(&plain);
		pair_close(&p);
	}
}

static void tampered(SSL_CTX *cctx, SSL_CTX *sctx)
{
	struct pair p;
	CHECK(pair_open(&p, cctx, sctx) == 0);
	CHECK(tls_write(p.s, "hello", 5) == 0);
	p.sout.data[p.sout.off + 7] ^= 1;
	client_read(&p, 0);
	CHECK(p.err == -EPROTO && buf_avail(&p.got) == 0);
	pair_close(&p);

	/* Headers: wrong outer type, a length past 2^14 + 256, one below a tag. */
	static const uint8_t bad[][5] = { { 22, 3, 3, 0, 40 }, { 23, 3, 3, 0x41, 0x11 },
					  { 23, 3, 3, 0, 16 } };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		CHECK(pair_open(&p, cctx, sctx) == 0);
		CHECK(rec_read(&p.rec, bad[i], 5, &p.cout, deliver, &p.got) == -EPROTO);
		pair_close(&p);
	}
	/* A header cut after 2 bytes is held, then judged when whole. */
	CHECK(pair_open(&p, cctx, sctx) == 0);
	CHECK(rec_read(&p.rec, bad[1], 2, &p.cout, deliver, &p.got) == 0 && p.rec.part);
	CHECK(rec_read(&p.rec, bad[1] + 2, 3, &p.cout, deliver, &p.got) == -EPROTO);
	pair_close(&p);
}

static void closing(SSL_CTX *cctx, SSL_CTX *sctx)
{
	struct pair p;
	CHECK(pair_open(&p, cctx, sctx) == 0);
	CHECK(tls_write(p.s, "bye", 3) == 0);
	tls_shutdown(p.s);
	client_read(&p, 0);
	CHECK(p.err == -ECONNRESET && buf_avail(&p.got) == 3); /* data first, then the close */
	CHECK(rec_close(&p.rec, &p.cout) == 0);
	CHECK(server_read(&p, NULL) == -ECONNRESET);
	CHECK(rec_write(&p.rec, "x", 1, &p.cout) == -EPIPE);
	CHECK(rec_close(&p.rec, &p.cout) == -EPIPE);
	pair_close(&p);
}

/* The server's side of a taken-over client: its state with the directions
 * swapped, so a test can seal any TLSInnerPlaintext OpenSSL would never send. */
static int inner(SSL_CTX *cctx, SSL_CTX *sctx, const uint8_t *in, size_t n, struct buf *got)
{
	struct pair p;
	if (pair_open(&p, cctx, sctx))
		return -999;
	client_read(&p, 0); /* the tickets, if any, so that the counters agree */
	struct rec_state srv = p.rec;
	srv.rd = p.rec.wr;
	srv.wr = p.rec.rd;
	int rc = rec_seal_inner(&srv, in, n, &p.sout);
	if (rc == 0 && got)
		rc = rec_seal_inner(&srv, (const uint8_t *)"ok\x17", 3, &p.sout);
	if (rc == 0) {
		client_read(&p, 0);
		rc = p.err;
	}
	if (got)
		buf_append(got, buf_head(&p.got), buf_avail(&p.got));
	pair_close(&p);
	return rc;
}

#define INNER(cc, sc, lit, got) inner(cc, sc, (const uint8_t *)(lit), sizeof(lit) - 1, got)

static void crafted(SSL_CTX *c, SSL_CTX *s)
{
	struct buf got = { 0 };
	/* §5.4 padding is stripped; an empty application record is allowed. */
	CHECK(INNER(c, s, "hi\x17\0\0\0", &got) == 0);
	CHECK(buf_avail(&got) == 4 && !memcmp(buf_head(&got), "hiok", 4));
	buf_free(&got);
	CHECK(INNER(c, s, "\x17", &got) == 0 && buf_avail(&got) == 2);
	buf_free(&got);
	/* Two tickets in one record, then data. */
	CHECK(INNER(c, s, "\x04\0\0\x02" "ab\x04\0\0\0\x16", &got) == 0 && buf_avail(&got) == 2);
	buf_free(&got);
	CHECK(INNER(c, s, "\x01\0\x15\0", NULL) == -ECONNRESET); /* padded close_notify */

	CHECK(INNER(c, s, "\0\0", NULL) == -EPROTO);		/* no content type */
	CHECK(INNER(c, s, "\x01\x14", NULL) == -EPROTO);		/* change_cipher_spec */
	CHECK(INNER(c, s, "\x02\x28\x15", NULL) == -EPROTO);	/* handshake_failure */
	CHECK(INNER(c, s, "\x0d\0\0\0\x16", NULL) == -EPROTO);	/* CertificateRequest */
	CHECK(INNER(c, s, "\x04\0\0\x0a\x01\x02\x16", NULL) == -EPROTO); /* fragmented */
	CHECK(INNER(c, s, "\x04\0\0", NULL) == -EPROTO);		/* short header */
	CHECK(INNER(c, s, "\x18\0\0\x01\x02\x16", NULL) == -EPROTO);	/* bad KeyUpdate */
	/* §5.1: a key change must end its record. */
	CHECK(INNER(c, s, "\x18\0\0\x01\0\x04\0\0\0\x16", NULL) == -EPROTO);
	/* §5.1: content past 2^14 bytes. */
	static uint8_t over[16384 + 2];
	memset(over, 'x', sizeof over);
	over[sizeof over - 1] = 23;
	CHECK(inner(c, s, over, sizeof over, NULL) == -EPROTO);
	CHECK(inner(c, s, over + 1, sizeof over - 1, NULL) == 0);
}

/* The callback's error stops the read and comes back. */
static int refuse(void *arg, const char *d, size_t n)
{
	(void)arg, (void)d, (void)n;
	return -E2BIG;
}

static void refused(SSL_CTX *cctx, SSL_CTX *sctx)
{
	struct pair p;
	CHECK(pair_open(&p, cctx, sctx) == 0);
	CHECK(tls_write(p.s, "x", 1) == 0);
	CHECK(rec_read(&p.rec, (const uint8_t *)buf_head(&p.sout), buf_avail(&p.sout), &p.cout,
		       refuse, NULL) == -E2BIG);
	pair_close(&p);
}

static void unsupported(SSL_CTX *cctx, SSL_CTX *sctx, SSL_CTX *plain_cctx)
{
	struct pair p;
	SSL_CTX_set_max_proto_version(cctx, TLS1_2_VERSION);
	CHECK(pair_open(&p, cctx, sctx) == -EPROTONOSUPPORT); /* the caller keeps OpenSSL */
	pair_close(&p);
	SSL_CTX_set_max_proto_version(cctx, 0);
	/* A context without the key log callback: no secrets to take over with. */
	CHECK(pair_open(&p, plain_cctx, sctx) == -EPROTO);
	pair_close(&p);
	/* Not yet started: nothing can be read. */
	struct rec_state st = { 0 };
	CHECK(rec_read(&st, (const uint8_t *)"x", 1, NULL, deliver, NULL) == -EPROTO);
}

/* ---- the server's side (tls/lean.c, starling-cm) ---- */

struct spair {
	SSL *c, *s; /* s is freed once lean takes over */
	struct tls_io cio, sio;
	struct buf cout, sout;
	struct tls_lean *lean;
	struct buf got; /* plaintext the server received */
	size_t left;	/* client bytes the handshake left for the record layer */
};

/* The channel bindings spair_open() asks the takeover to keep. */
static unsigned spair_cb_want = TLS_CB_EXPORTER | TLS_CB_SERVER_END_POINT;

/* Handshake an OpenSSL client with a server driven by tls_handshake(); the
 * client sends `early` right behind its Finished.  Returns tls_lean_start's
 * result (the server's SSL is freed on 0). */
static int spair_open(struct spair *p, SSL_CTX *cctx, SSL_CTX *sctx, const char *early)
{
	memset(p, 0, sizeof *p);
	p->cio.out = &p->cout;
	p->sio.out = &p->sout;
	p->c = tls_new(cctx, &p->cio, 0, "localhost");
	p->s = tls_new(sctx, &p->sio, 1, NULL);
	if (!p->c || !p->s || !(p->lean = tls_lean_new(p->s)))
		return -ENOMEM;
	if (tls_handshake(p->c) != 0)
		return -EPROTO;
	for (int i = 0; i < 10; i++) {
		p->sio.in = (const uint8_t *)buf_head(&p->cout);
		p->sio.in_len = buf_avail(&p->cout);
		size_t before = buf_avail(&p->sout);
		int done = tls_handshake(p->s);
		if (done < 0)
			return -EPROTO;
		if (done == 1) {
			/* What follows the Finished stays for the record layer. */
			buf_consume(&p->cout, buf_avail(&p->cout) - p->sio.in_len);
			p->left = buf_avail(&p->cout);
			int rc = tls_lean_start(p->lean, p->s,
						(const uint8_t *)buf_head(&p->sout) + before,
						buf_avail(&p->sout) - before, spair_cb_want);
			if (rc == 0) {
				SSL_free(p->s);
				p->s = NULL;
			}
			return rc;
		}
		buf_consume(&p->cout, buf_avail(&p->cout));
		p->cio.in = (const uint8_t *)buf_head(&p->sout);
		p->cio.in_len = buf_avail(&p->sout);
		done = tls_handshake(p->c);
		buf_consume(&p->sout, buf_avail(&p->sout) - p->cio.in_len);
		if (done == 1 && early && tls_write(p->c, early, strlen(early)))
			return -EPROTO;
	}
	return -EPROTO;
}

static void spair_close(struct spair *p)
{
	SSL_free(p->c);
	SSL_free(p->s);
	tls_lean_free(p->lean);
	buf_free(&p->cout);
	buf_free(&p->sout);
	buf_free(&p->got);
}

/* The lean server reads all the client sent, in chunks of at most chunk. */
static int lean_read_all(struct spair *p, size_t chunk)
{
	const uint8_t *in = (const uint8_t *)buf_head(&p->cout);
	size_t len = buf_avail(&p->cout);
	int rc = 0, all_used = 1;
	while (len && !rc) {
		size_t k = chunk ? 1 + rnd() % chunk : len, used = 0;
		if (k > len)
			k = len;
		rc = rec_read_n(&p->lean->rec, in, k, &p->sout, deliver, &p->got, &used);
		all_used &= rc || used == k;
		in += k;
		len -= k;
	}
	CHECK(all_used);
	buf_consume(&p->cout, buf_avail(&p->cout));
	return rc;
}

/* The client reads all the server sent; its plaintext into plain. */
static int client_read_all(struct spair *p, struct buf *plain)
{
	char tmp[20000];
	p->cio.in = (const uint8_t *)buf_head(&p->sout);
	p->cio.in_len = buf_avail(&p->sout);
	int r;
	while ((r = tls_read(p->c, tmp, sizeof tmp)) > 0)
		if (plain && buf_append(plain, tmp, (size_t)r))
			return -ENOMEM;
	buf_consume(&p->sout, buf_avail(&p->sout));
	return r;
}

/* Pipelined data, the tickets' sequence numbers, big data both ways. */
static void server_talk(SSL_CTX *cctx, SSL_CTX *sctx, size_t chunk)
{
	struct spair p;
	CHECK(spair_open(&p, cctx, sctx, "<stream:stream>") == 0);
	CHECK(p.left > 0);
	CHECK(lean_read_all(&p, chunk) == 0);
	CHECK(buf_avail(&p.got) == 15 && !memcmp(buf_head(&p.got), "<stream:stream>", 15));
	struct buf plain = { 0 };
	CHECK(rec_write(&p.lean->rec, big, sizeof big, &p.sout) == 0);
	CHECK(client_read_all(&p, &plain) == 0);
	CHECK(buf_avail(&plain) == sizeof big && !memcmp(buf_head(&plain), big, sizeof big));
	buf_free(&plain);
	buf_free(&p.got);
	CHECK(tls_write(p.c, big, sizeof big) == 0);
	CHECK(lean_read_all(&p, chunk) == 0);
	CHECK(buf_avail(&p.got) == sizeof big && !memcmp(buf_head(&p.got), big, sizeof big));
	CHECK(p.lean->rec.part == NULL);
	spair_close(&p);
}

/* The client's KeyUpdates: the server follows, and answers a request with
 * its own before anything else it writes. */
static void server_key_updates(SSL_CTX *cctx, SSL_CTX *sctx)
{
	const int kinds[] = { SSL_KEY_UPDATE_NOT_REQUESTED, SSL_KEY_UPDATE_REQUESTED };
	for (int i = 0; i < 2; i++) {
		struct spair p;
		CHECK(spair_open(&p, cctx, sctx, NULL) == 0);
		CHECK(client_read_all(&p, NULL) == 0); /* the ticket */
		CHECK(SSL_key_update(p.c, kinds[i]) == 1);
		CHECK(tls_write(p.c, "ku", 2) == 0);
		CHECK(lean_read_all(&p, 7) == 0);
		CHECK(buf_avail(&p.got) == 2 && !memcmp(buf_head(&p.got), "ku", 2));
		CHECK(buf_avail(&p.sout) == (i ? 5 + 5 + 1 + 16 : 0));
		struct buf plain = { 0 };
		CHECK(rec_write(&p.lean->rec, "reply", 5, &p.sout) == 0);
		CHECK(client_read_all(&p, &plain) == 0);
		CHECK(buf_avail(&plain) == 5 && !memcmp(buf_head(&plain), "reply", 5));
		buf_free(&plain);
		spair_close(&p);
	}
}

static int stop_first(void *arg, const char *d, size_t n)
{
	return buf_append(arg, d, n) ? -ENOMEM : 1;
}

/* rec_read_n stops after the record whose delivery said so, and says where;
 * a tampered record ends it; rec_alert goes out and closes the writer. */
static void server_errors(SSL_CTX *cctx, SSL_CTX *sctx)
{
	struct spair p;
	CHECK(spair_open(&p, cctx, sctx, NULL) == 0);
	CHECK(tls_write(p.c, "one", 3) == 0);
	size_t first = buf_avail(&p.cout);
	CHECK(tls_write(p.c, "two", 3) == 0);
	size_t used = 0;
	CHECK(rec_read_n(&p.lean->rec, (const uint8_t *)buf_head(&p.cout), buf_avail(&p.cout),
			 &p.sout, stop_first, &p.got, &used) == 1);
	CHECK(used == first && buf_avail(&p.got) == 3);
	buf_consume(&p.cout, used);
	CHECK(lean_read_all(&p, 0) == 0);
	CHECK(buf_avail(&p.got) == 6 && !memcmp(buf_head(&p.got), "onetwo", 6));

	CHECK(tls_write(p.c, "bad", 3) == 0);
	p.cout.data[p.cout.off + 6] ^= 1;
	used = 0;
	CHECK(rec_read_n(&p.lean->rec, (const uint8_t *)buf_head(&p.cout), buf_avail(&p.cout),
			 &p.sout, deliver, &p.got, &used) == -EPROTO);
	buf_consume(&p.cout, buf_avail(&p.cout));
	CHECK(client_read_all(&p, NULL) == 0); /* the ticket */
	CHECK(rec_alert(&p.lean->rec, 20, &p.sout) == 0);
	CHECK(rec_write(&p.lean->rec, "x", 1, &p.sout) == -EPIPE);
	CHECK(rec_alert(&p.lean->rec, 20, &p.sout) == -EPIPE);
	CHECK(client_read_all(&p, NULL) == -EPROTO); /* bad_record_mac */
	spair_close(&p);

	/* The client's close_notify is the clean end. */
	CHECK(spair_open(&p, cctx, sctx, NULL) == 0);
	tls_shutdown(p.c);
	CHECK(lean_read_all(&p, 0) == -ECONNRESET);
	spair_close(&p);
}

/* What SASL needs later was captured: tls-exporter and tls-server-end-point
 * as the client computes them. */
static void server_captured(SSL_CTX *cctx, SSL_CTX *sctx)
{
	struct spair p;
	CHECK(spair_open(&p, cctx, sctx, NULL) == 0);
	CHECK(tls_lean_cb_available(p.lean) == (TLS_CB_EXPORTER | TLS_CB_SERVER_END_POINT));
	uint8_t mine[TLS_CB_MAX_DATA], theirs[TLS_CB_MAX_DATA];
	size_t n = 0, m = 0;
	CHECK(tls_lean_cb_data(p.lean, TLS_CB_EXPORTER, mine, &n) == 0 && n == 32);
	CHECK(tls_cb_data(p.c, 0, TLS_CB_EXPORTER, theirs, &m) == 0 && m == 32);
	CHECK(!memcmp(mine, theirs, 32));
	CHECK(tls_lean_cb_data(p.lean, TLS_CB_SERVER_END_POINT, mine, &n) == 0);
	CHECK(tls_cb_data(p.c, 0, TLS_CB_SERVER_END_POINT, theirs, &m) == 0);
	CHECK(n == m && !memcmp(mine, theirs, n));
	CHECK(!p.lean->peer_verified && p.lean->n_ids == 0);
	CHECK(p.lean->rec.is_server && strcmp(tls_lean_cipher_name(p.lean), "unknown"));
	spair_close(&p);
	/* Channel binding off: nothing computed, nothing to offer. */
	spair_cb_want = 0;
	CHECK(spair_open(&p, cctx, sctx, NULL) == 0);
	CHECK(tls_lean_cb_available(p.lean) == 0);
	CHECK(tls_lean_cb_data(p.lean, TLS_CB_EXPORTER, mine, &n) != 0);
	spair_close(&p);
	spair_cb_want = TLS_CB_EXPORTER | TLS_CB_SERVER_END_POINT;
}

/* TLS 1.2 stays on OpenSSL, unharmed; a context without the callback gives
 * no lean state at all. */
static void server_unsupported(SSL_CTX *cctx, SSL_CTX *sctx, SSL_CTX *plain_sctx)
{
	struct spair p;
	SSL_CTX_set_max_proto_version(cctx, TLS1_2_VERSION);
	CHECK(spair_open(&p, cctx, sctx, "hi") == -EPROTONOSUPPORT);
	CHECK(p.s && tls_handshake_done(p.s));
	SSL_CTX_set_max_proto_version(cctx, 0);
	spair_close(&p);
	SSL *s = tls_new(plain_sctx, &p.sio, 1, NULL);
	CHECK(s && tls_lean_new(s) == NULL);
	SSL_free(s);
}

/* A client may not send tickets (RFC 8446 §4.6.1): a server's state refuses
 * one that a client's accepts. */
static void server_refuses_tickets(void)
{
	uint8_t cs[32], ss[32];
	memset(cs, 1, sizeof cs);
	memset(ss, 2, sizeof ss);
	static const uint8_t nst[] = { 4, 0, 0, 0, 22 }; /* empty NewSessionTicket, handshake */
	for (int server = 0; server < 2; server++) {
		struct rec_state peer = { 0 }, me = { 0 };
		struct buf wire = { 0 }, got = { 0 };
		CHECK(rec_set_secrets(&peer, 0x1301, cs, ss, 32) == 0);
		CHECK(rec_set_secrets(&me, 0x1301, ss, cs, 32) == 0);
		me.is_server = (uint8_t)server;
		CHECK(rec_seal_inner(&peer, nst, sizeof nst, &wire) == 0);
		CHECK(rec_read(&me, (const uint8_t *)buf_head(&wire), buf_avail(&wire), &got, deliver,
			       &got) == (server ? -EPROTO : 0));
		rec_free(&peer);
		rec_free(&me);
		buf_free(&wire);
		buf_free(&got);
	}
}


/* ---- known answers and the per-thread context cache ---- */

static size_t unhex(const char *h, uint8_t *out)
{
	size_t n = 0;
	for (; h[0] && h[1]; h += 2) {
		unsigned v;
		sscanf(h, "%2x", &v);
		out[n++] = (uint8_t)v;
	}
	return n;
}

/* RFC 8448 §3 (TLS_AES_128_GCM_SHA256): the application traffic keys
 * derived from the client's and the server's secrets (§7.3), the client's
 * first record and the server's second (its first carried the ticket), both
 * the 50 bytes 00..31. */
static void rfc8448(void)
{
	uint8_t cs[32], ss[32], want[80], rec[80], plain[50];
	unhex("9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5", cs);
	unhex("a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643", ss);
	for (int i = 0; i < 50; i++)
		plain[i] = (uint8_t)i;
	struct rec_state st = { 0 };
	CHECK(rec_set_secrets(&st, 0x1301, cs, ss, 32) == 0);
	CHECK(unhex("17422dda596ed5d9acd890e3c63f5051", want) == 16 && !memcmp(st.wr.key, want, 16));
	CHECK(unhex("5b78923dee08579033e523d9", want) == 12 && !memcmp(st.wr.iv, want, 12));
	CHECK(unhex("9f02283b6c9c07efc26bb9f2ac92e356", want) == 16 && !memcmp(st.rd.key, want, 16));
	CHECK(unhex("cf782b88dd83549aadf1e984", want) == 12 && !memcmp(st.rd.iv, want, 12));

	struct buf out = { 0 }, got = { 0 };
	size_t n = unhex("17030300"
			 "43a23f7054b62c94d0affafe8228ba55cbefacea42f914aa66bcab3f2b9819a8a5b46b395bd5"
			 "4a9a20441e2b62974e1f5a6292a2977014bd1e3deae63aeebb21694915e4",
			 want);
	CHECK(rec_write(&st, plain, sizeof plain, &out) == 0);
	CHECK(buf_avail(&out) == n && !memcmp(buf_head(&out), want, n));
	n = unhex("17030300"
		  "432e937e11ef4ac740e538ad36005fc4a46932fc3225d05f82aa1b36e30efaf97d90e6dffc602d"
		  "cb501a59a8fcc49c4bf2e5f0a21c0047c2abf332540dd032e167c2955d",
		  rec);
	st.rd.seq = 1;
	CHECK(rec_read(&st, rec, n, &out, deliver, &got) == 0);
	CHECK(buf_avail(&got) == sizeof plain && !memcmp(buf_head(&got), plain, sizeof plain));
	rec_free(&st);
	buf_free(&out);
	buf_free(&got);
}

/* A record sealed by OpenSSL alone, with a context of its own: what the peer
 * of d would send, or what d must write. */
static size_t ref_seal(unsigned suite_id, const struct rec_dir *d, const uint8_t *inner,
		       size_t n, uint8_t *out)
{
	const char *name = suite_id == 0x1301 ? "AES-128-GCM"
			   : suite_id == 0x1302 ? "AES-256-GCM" : "ChaCha20-Poly1305";
	EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, name, NULL);
	EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
	uint8_t nonce[12];
	memcpy(nonce, d->iv, 12);
	for (int i = 0; i < 8; i++)
		nonce[11 - i] ^= (uint8_t)(d->seq >> (8 * i));
	size_t clen = n + 16;
	uint8_t hdr[5] = { 23, 3, 3, (uint8_t)(clen >> 8), (uint8_t)clen };
	int l, ok = c && x && EVP_EncryptInit_ex(x, c, NULL, d->key, nonce) &&
		    EVP_EncryptUpdate(x, NULL, &l, hdr, 5) &&
		    EVP_EncryptUpdate(x, out + 5, &l, inner, (int)n) &&
		    EVP_EncryptFinal_ex(x, out + 5 + n, &l) &&
		    EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_GET_TAG, 16, out + 5 + n) == 1;
	memcpy(out, hdr, 5);
	EVP_CIPHER_CTX_free(x);
	EVP_CIPHER_free(c);
	return ok ? 5 + clen : 0;
}

#define NCONN 300 /* more than the 2 x 128 contexts a thread keeps */

static const unsigned cache_suites[] = { 0x1301, 0x1302, 0x1303 };

/* Connection i's own secrets, suite i % 3.  Each ChaCha20 connection takes
 * the keys and IVs of the AES-256-GCM one before it: only the suite tells
 * their contexts apart. */
static void cache_open(struct rec_state *c, int i)
{
	unsigned suite = cache_suites[i % 3];
	size_t hl = suite == 0x1302 ? 48 : 32;
	uint8_t ws[48], rs[48];
	for (size_t k = 0; k < hl; k++)
		ws[k] = (uint8_t)(i * 7 + k), rs[k] = (uint8_t)(i * 13 + k + 1);
	CHECK(rec_set_secrets(&c[i], suite, ws, rs, hl) == 0);
	if (i % 3 == 2) {
		memcpy(c[i].wr.key, c[i - 1].wr.key, 32);
		memcpy(c[i].wr.iv, c[i - 1].wr.iv, 12);
		memcpy(c[i].rd.key, c[i - 1].rd.key, 32);
		memcpy(c[i].rd.iv, c[i - 1].rd.iv, 12);
	}
}

/* One round of connection i: a record each way, checked against OpenSSL;
 * then, now and again, the peer's KeyUpdate (RFC 8446 §4.6.3), requested or
 * not, whose answer must be sealed under the old write key.  Returns the
 * number of mistakes. */
static int cache_round(struct rec_state *st, unsigned suite, int i, int r)
{
	uint8_t msg[64], want[128];
	struct buf out = { 0 }, got = { 0 };
	int n = snprintf((char *)msg, sizeof msg - 1, "connection %d, round %d", i, r), bad = 0;
	msg[n] = 23;
	size_t w = ref_seal(suite, &st->wr, msg, (size_t)n + 1, want);
	bad += rec_write(st, msg, (size_t)n, &out) || buf_avail(&out) != w ||
	       memcmp(buf_head(&out), want, w);
	buf_reset(&out);
	w = ref_seal(suite, &st->rd, msg, (size_t)n + 1, want);
	bad += rec_read(st, want, w, &out, deliver, &got) || buf_avail(&got) != (size_t)n ||
	       memcmp(buf_head(&got), msg, (size_t)n);
	if ((i + r) % 5 == 0) {
		uint8_t ku[6] = { 24, 0, 0, 1, (uint8_t)((i + r) & 1), 22 };
		uint8_t answer[6] = { 24, 0, 0, 1, 0, 22 };
		struct rec_dir old_wr = st->wr, old_rd = st->rd;
		w = ref_seal(suite, &st->rd, ku, sizeof ku, want);
		bad += rec_read(st, want, w, &out, deliver, &got) != 0;
		bad += !memcmp(st->rd.key, old_rd.key, sizeof old_rd.key) || st->rd.seq;
		w = ku[4] ? ref_seal(suite, &old_wr, answer, sizeof answer, want) : 0;
		bad += buf_avail(&out) != w || (w && memcmp(buf_head(&out), want, w));
		bad += ku[4] == !memcmp(st->wr.key, old_wr.key, sizeof old_wr.key);
	}
	buf_free(&out);
	buf_free(&got);
	return bad;
}

/* The cache may only ever hand out a context keyed with the record's own key
 * and suite: connections interleaved beyond its size, both directions, all
 * suites, key updates between records, states freed and made anew.  Fails
 * when the cache compares neither key nor suite, or not the suite. */
static void cache_interleaved(void)
{
	static struct rec_state c[NCONN];
	int bad = 0;
	for (int i = 0; i < NCONN; i++)
		cache_open(c, i);
	for (int r = 0; r < 6; r++)
		for (int k = 0; k < NCONN; k++) {
			int i = (k * 7 + r * 13) % NCONN; /* 7 is prime to NCONN: each once */
			bad += cache_round(&c[i], cache_suites[i % 3], i, r);
		}
	CHECK(bad == 0);
	/* A connection closed and another opened with the same secrets: the new
	 * one starts at record 0 again and must read and write as the old did. */
	for (int i = 0; i < NCONN; i += 37) {
		rec_free(&c[i]);
		memset(&c[i], 0, sizeof c[i]);
		cache_open(c, i);
		bad += cache_round(&c[i], cache_suites[i % 3], i, 1);
	}
	CHECK(bad == 0);
	for (int i = 0; i < NCONN; i++)
		rec_free(&c[i]);
}

int main(void)
{
	char dir[] = "/tmp/starling-test-record-XXXXXX", cert[300], key[300], err[512];
	CHECK(mkdtemp(dir) != NULL);
	if (certs_make(dir, 0)) {
		CHECK(!"scripts/mkcert.sh failed (run from the repository root)");
		CHECK_DONE();
	}
	snprintf(cert, sizeof cert, "%s/cert.pem", dir);
	snprintf(key, sizeof key, "%s/key.pem", dir);
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (char)rnd();

	SSL_CTX *sctx = tls_server_ctx(cert, key, err, sizeof err);
	SSL_CTX *cctx = tls_client_ctx(NULL, err, sizeof err);
	SSL_CTX *plain_cctx = tls_client_ctx(NULL, err, sizeof err);
	CHECK(sctx && cctx && plain_cctx);
	if (!sctx || !cctx || !plain_cctx) {
		fprintf(stderr, "%s\n", err);
		CHECK_DONE();
	}
	rec_capture_secrets(cctx);

	static const char *suites[] = { "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
					"TLS_CHACHA20_POLY1305_SHA256" };
	static const size_t chunks[] = { 1, 5, 300, 1500, 17000, 0 };
	for (size_t s = 0; s < 3; s++) {
		CHECK(SSL_CTX_set_ciphersuites(sctx, suites[s]) == 1);
		CHECK(SSL_CTX_set_ciphersuites(cctx, suites[s]) == 1);
		for (int tickets = 0; tickets <= 2; tickets += 2) {
			/* Tickets arrive as post-handshake messages under the new keys. */
			CHECK(SSL_CTX_set_num_tickets(sctx, (size_t)tickets) == 1);
			SSL_CTX_clear_options(sctx, tickets ? SSL_OP_NO_TICKET : 0);
			for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
				struct pair p;
				CHECK(pair_open(&p, cctx, sctx) == 0);
				talk(&p, chunks[i]);
				pair_close(&p);
			}
		}
		key_updates(cctx, sctx);
	}
	tampered(cctx, sctx);
	crafted(cctx, sctx);
	closing(cctx, sctx);
	refused(cctx, sctx);
	unsupported(cctx, sctx, plain_cctx);

	/* The server's side: secrets captured on the server context. */
	SSL_CTX *lsctx = tls_server_ctx(cert, key, err, sizeof err);
	SSL_CTX *lcctx = tls_client_ctx(NULL, err, sizeof err);
	CHECK(lsctx && lcctx);
	rec_capture_secrets(lsctx);
	for (size_t s = 0; s < 3; s++) {
		CHECK(SSL_CTX_set_ciphersuites(lsctx, suites[s]) == 1);
		CHECK(SSL_CTX_set_ciphersuites(lcctx, suites[s]) == 1);
		for (int tickets = 0; tickets <= 2; tickets++) {
			/* Tickets go out under the server's first application key. */
			CHECK(SSL_CTX_set_num_tickets(lsctx, (size_t)tickets) == 1);
			SSL_CTX_clear_options(lsctx, tickets ? SSL_OP_NO_TICKET : 0);
			for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++)
				server_talk(lcctx, lsctx, chunks[i]);
		}
		server_key_updates(lcctx, lsctx);
	}
	SSL_CTX_set_num_tickets(lsctx, 1);
	server_errors(lcctx, lsctx);
	server_captured(lcctx, lsctx);
	server_unsupported(lcctx, lsctx, sctx);
	server_refuses_tickets();
	rfc8448();
	cache_interleaved();
	SSL_CTX_free(lsctx);
	SSL_CTX_free(lcctx);
	rec_thread_done();

	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	SSL_CTX_free(plain_cctx);
	CHECK(certs_remove(dir) == 0);
	CHECK_DONE();
}
