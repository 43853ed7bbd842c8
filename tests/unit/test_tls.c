/* test_tls: full handshakes between a client and a server made with
 * tls_new(), bytes shuttled between their output buffers in random-sized
 * chunks, plus the failure paths; channel-binding data (tls/cbind.c) and
 * client certificates (tls/peercert.c) on such handshakes.  Needs the openssl CLI (via
 * scripts/mkcert.sh) and runs from the repository root. */
#include "tls/tls.h"
#include "tls/cbind.h"
#include "tls/peercert.h"
#include "tls/server.h"
#include "tls/ticket.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "certs.h"
#include "check.h"

/* ---- heap accounting: every OpenSSL allocation carries a size header ---- */

#define MEM_HDR alignof(max_align_t)
static size_t mem_live, mem_blocks;

static void *mem_malloc(size_t n, const char *file, int line)
{
	(void)file, (void)line;
	char *p = malloc(n + MEM_HDR);
	if (!p)
		return NULL;
	memcpy(p, &n, sizeof n);
	mem_live += n;
	mem_blocks++;
	return p + MEM_HDR;
}

static void mem_free(void *ptr, const char *file, int line)
{
	(void)file, (void)line;
	if (!ptr)
		return;
	char *p = (char *)ptr - MEM_HDR;
	size_t n;
	memcpy(&n, p, sizeof n);
	mem_live -= n;
	mem_blocks--;
	free(p);
}

static void *mem_realloc(void *ptr, size_t n, const char *file, int line)
{
	if (!ptr)
		return mem_malloc(n, file, line);
	char *old = (char *)ptr - MEM_HDR;
	size_t was;
	memcpy(&was, old, sizeof was);
	char *p = realloc(old, n + MEM_HDR);
	if (!p)
		return NULL;
	memcpy(p, &n, sizeof n);
	mem_live = mem_live - was + n;
	return p + MEM_HDR;
}

/* ---- a connection end and the shuttle between two ends ---- */

static unsigned rng = 12345;
static unsigned rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

struct end {
	SSL *ssl;
	struct tls_io io;
	struct buf out; /* ciphertext this end sends */
	struct buf got; /* plaintext this end received */
	int err;	/* first negative tls_read result, 0 if none */
	int violations; /* tls_read returned 0 with input left over */
};

static size_t max_chunk; /* ciphertext delivery size; 0 = everything at once */

static int end_init(struct end *e, SSL_CTX *ctx, int is_server, const char *name)
{
	memset(e, 0, sizeof *e);
	e->io.out = &e->out;
	e->ssl = tls_new(ctx, &e->io, is_server, name);
	return e->ssl ? 0 : -1;
}

static void end_free(struct end *e)
{
	SSL_free(e->ssl);
	buf_free(&e->out);
	buf_free(&e->got);
}

/* Run tls_read over what io->in holds, with a random plaintext capacity. */
static void end_drain(struct end *e)
{
	char tmp[5000];
	for (;;) {
		size_t cap = 1 + rnd() % sizeof tmp;
		int r = tls_read(e->ssl, tmp, cap);
		if (r > 0) {
			if (buf_append(&e->got, tmp, (size_t)r))
				abort();
			continue;
		}
		if (r == 0 && e->io.in_len)
			e->violations++;
		if (r < 0 && !e->err)
			e->err = r;
		return;
	}
}

static void end_feed(struct end *e, const char *p, size_t n)
{
	while (n && !e->err) {
		size_t k = max_chunk ? 1 + rnd() % max_chunk : n;
		if (k > n)
			k = n;
		e->io.in = (const uint8_t *)p;
		e->io.in_len = k;
		end_drain(e);
		p += k;
		n -= k;
	}
	e->io.in = NULL;
	e->io.in_len = 0;
}

/* Deliver each end's output to the other until neither has anything to say. */
static void pump(struct end *a, struct end *b)
{
	while (buf_avail(&a->out) || buf_avail(&b->out)) {
		struct end *from = buf_avail(&a->out) ? a : b, *to = from == a ? b : a;
		size_t n = buf_avail(&from->out);
		if (!to->err)
			end_feed(to, buf_head(&from->out), n);
		buf_consume(&from->out, n);
	}
}

static int handshake(struct end *c, struct end *s)
{
	end_drain(c); /* empty input: the client writes its ClientHello */
	if (!buf_avail(&c->out))
		return -1;
	pump(c, s);
	return tls_handshake_done(c->ssl) && tls_handshake_done(s->ssl) ? 0 : -1;
}

static int send_and_check(struct end *from, struct end *to, const char *data, size_t n)
{
	buf_free(&to->got);
	if (tls_write(from->ssl, data, n))
		return -1;
	pump(from, to);
	return buf_avail(&to->got) == n && !memcmp(buf_head(&to->got), data, n) ? 0 : -1;
}

/* ---- scenarios ---- */

static char big[100 * 1024];

static void session(SSL_CTX *cctx, SSL_CTX *sctx, int version, size_t chunk)
{
	struct end c, s;
	max_chunk = chunk;
	CHECK(!end_init(&c, cctx, 0, "localhost") && !end_init(&s, sctx, 1, NULL));
	CHECK(!handshake(&c, &s));
	CHECK(SSL_version(c.ssl) == version && SSL_version(s.ssl) == version);
	static const char hdr[] = "<stream:stream to='localhost' version='1.0'>";
	CHECK(!send_and_check(&c, &s, hdr, sizeof hdr - 1));
	CHECK(!send_and_check(&s, &c, big, sizeof big));
	CHECK(!send_and_check(&c, &s, big, sizeof big));
	CHECK(!send_and_check(&s, &c, "x", 1));
	/* Close: close_notify reads as -ECONNRESET, and stays that way. */
	tls_shutdown(c.ssl);
	CHECK(buf_avail(&c.out) > 0);
	pump(&c, &s);
	CHECK(s.err == -ECONNRESET);
	char tmp[64];
	CHECK(tls_read(s.ssl, tmp, sizeof tmp) == -ECONNRESET);
	CHECK(c.violations == 0 && s.violations == 0);
	CHECK(c.err == 0);
	end_free(&c);
	end_free(&s);
}

/* The TLS 1.3 suite a client offering `suites` (NULL: OpenSSL's default,
 * AES-256 first) ends up with. */
static const char *suite_chosen(SSL_CTX *sctx, const char *suites, char *name, size_t cap)
{
	char err[256];
	SSL_CTX *cctx = tls_client_ctx(NULL, err, sizeof err);
	struct end c, s;
	snprintf(name, cap, "(none)");
	if (cctx && (!suites || SSL_CTX_set_ciphersuites(cctx, suites) == 1) &&
	    !end_init(&c, cctx, 0, "localhost")) {
		if (!end_init(&s, sctx, 1, NULL)) {
			if (!handshake(&c, &s))
				snprintf(name, cap, "%s", SSL_CIPHER_get_name(SSL_get_current_cipher(s.ssl)));
			end_free(&s);
		}
		end_free(&c);
	}
	SSL_CTX_free(cctx);
	return name;
}

/* AES-128-GCM with SHA-256 by the server's preference (RFC 8446 §9.1's
 * mandatory suite; SHA-NI makes its key schedule a third cheaper than
 * SHA-384's), ChaCha20 for a client that puts it first (no AES in
 * hardware), and whatever a client limits itself to. */
static void suites(SSL_CTX *sctx)
{
	char name[64];
	max_chunk = 0;
	CHECK_STR(suite_chosen(sctx, NULL, name, sizeof name), "TLS_AES_128_GCM_SHA256");
	CHECK_STR(suite_chosen(sctx, "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384:"
				     "TLS_AES_128_GCM_SHA256", name, sizeof name),
		  "TLS_CHACHA20_POLY1305_SHA256");
	CHECK_STR(suite_chosen(sctx, "TLS_AES_256_GCM_SHA384", name, sizeof name),
		  "TLS_AES_256_GCM_SHA384");
}

/* Print (not assert) the heap held by one idle server SSL after a handshake:
 * the drop in live OpenSSL bytes when it is freed, counted through
 * CRYPTO_set_mem_functions() hooks installed before any other OpenSSL call. */
static void measure_idle(SSL_CTX *cctx, SSL_CTX *sctx, const char *label)
{
	struct end c, s;
	max_chunk = 0;
	CHECK(!end_init(&c, cctx, 0, "localhost") && !end_init(&s, sctx, 1, NULL));
	CHECK(!handshake(&c, &s));
	CHECK(!send_and_check(&c, &s, "<presence/>", 11));
	CHECK(!send_and_check(&s, &c, "<presence/>", 11));
	size_t live = mem_live, blocks = mem_blocks;
	SSL_free(s.ssl);
	s.ssl = NULL;
	printf("idle server SSL after %s handshake: %zu bytes in %zu OpenSSL allocations\n", label,
	       live - mem_live, blocks - mem_blocks);
	end_free(&c);
	end_free(&s);
}

static void tls11_refused(SSL_CTX *sctx)
{
	char err[256];
	SSL_CTX *old = tls_client_ctx(NULL, err, sizeof err);
	CHECK(old != NULL);
	if (!old)
		return;
	/* Let the client really offer TLS 1.1 so the refusal is the server's. */
	SSL_CTX_set_security_level(old, 0);
	CHECK(SSL_CTX_set_cipher_list(old, "DEFAULT:@SECLEVEL=0") == 1);
	CHECK(SSL_CTX_set_min_proto_version(old, TLS1_1_VERSION) == 1);
	CHECK(SSL_CTX_set_max_proto_version(old, TLS1_1_VERSION) == 1);
	struct end c, s;
	max_chunk = 0;
	CHECK(!end_init(&c, old, 0, "localhost") && !end_init(&s, sctx, 1, NULL));
	CHECK(handshake(&c, &s) != 0);
	CHECK(s.err == -EPROTO);
	CHECK(c.err == -EPROTO); /* the client got the server's protocol_version alert */
	CHECK(!tls_handshake_done(s.ssl));
	end_free(&c);
	end_free(&s);
	SSL_CTX_free(old);
}

static void garbage(SSL_CTX *cctx, SSL_CTX *sctx)
{
	struct end c, s;
	max_chunk = 3;
	/* Plain XML where a ClientHello should be. */
	CHECK(!end_init(&s, sctx, 1, NULL));
	static const char xml[] = "<?xml version='1.0'?><stream:stream to='localhost'>";
	end_feed(&s, xml, sizeof xml - 1);
	CHECK(s.err == -EPROTO);
	end_free(&s);

	/* A good record, then a forged one: the plaintext first, then -EPROTO
	 * with an alert queued for the peer. */
	max_chunk = 0;
	CHECK(!end_init(&c, cctx, 0, "localhost") && !end_init(&s, sctx, 1, NULL));
	CHECK(!handshake(&c, &s));
	CHECK(!tls_write(c.ssl, "hello", 5));
	uint8_t forged[5 + 40] = {0x17, 0x03, 0x03, 0x00, 40};
	for (size_t i = 5; i < sizeof forged; i++)
		forged[i] = (uint8_t)rnd();
	CHECK(!buf_append(&c.out, forged, sizeof forged));
	s.io.in = (const uint8_t *)buf_head(&c.out);
	s.io.in_len = buf_avail(&c.out);
	char tmp[64];
	CHECK(tls_read(s.ssl, tmp, sizeof tmp) == 5 && !memcmp(tmp, "hello", 5));
	CHECK(tls_read(s.ssl, tmp, sizeof tmp) == -EPROTO);
	CHECK(buf_avail(&s.out) > 0);
	CHECK(tls_read(s.ssl, tmp, 0) == -EINVAL);
	CHECK(tls_write(s.ssl, "x", 1) == -EPROTO);
	end_free(&c);
	end_free(&s);

	/* Writing before the handshake is refused without side effects. */
	CHECK(!end_init(&c, cctx, 0, "localhost"));
	CHECK(tls_write(c.ssl, "x", 1) == -EAGAIN && buf_avail(&c.out) == 0);
	tls_shutdown(c.ssl);
	CHECK(buf_avail(&c.out) == 0);
	end_free(&c);
}

static void verify(SSL_CTX *sctx, const char *cert)
{
	char err[512];
	SSL_CTX *vctx = tls_client_ctx(cert, err, sizeof err);
	CHECK(vctx != NULL);
	if (!vctx)
		return;
	struct end c, s;
	max_chunk = 0;
	CHECK(!end_init(&c, vctx, 0, "localhost") && !end_init(&s, sctx, 1, NULL));
	CHECK(!handshake(&c, &s));
	CHECK(SSL_get_verify_result(c.ssl) == X509_V_OK);
	end_free(&c);
	end_free(&s);
	/* The certificate's subjectAltName is localhost only. */
	CHECK(!end_init(&c, vctx, 0, "example.org") && !end_init(&s, sctx, 1, NULL));
	CHECK(handshake(&c, &s) != 0);
	CHECK(c.err == -EPROTO && !tls_handshake_done(c.ssl));
	end_free(&c);
	end_free(&s);
	SSL_CTX_free(vctx);
	CHECK(tls_client_ctx("/nonexistent/ca.pem", err, sizeof err) == NULL);
	CHECK(strstr(err, "/nonexistent/ca.pem") != NULL);
}

static void ctx_errors(const char *dir, const char *cert, const char *key)
{
	char err[512], other[300];
	snprintf(other, sizeof other, "%s/other/key.pem", dir);
	CHECK(tls_server_ctx("/nonexistent/cert.pem", key, err, sizeof err) == NULL);
	printf("missing cert: %s\n", err);
	CHECK(strstr(err, "/nonexistent/cert.pem") && strstr(err, "No such file"));
	CHECK(tls_server_ctx(cert, "/nonexistent/key.pem", err, sizeof err) == NULL);
	CHECK(strstr(err, "/nonexistent/key.pem") != NULL);
	CHECK(tls_server_ctx(cert, other, err, sizeof err) == NULL);
	printf("mismatched key: %s\n", err);
	CHECK(strstr(err, other) && strstr(err, "does not match"));
	/* A key file given as the certificate: no PEM certificate in it. */
	CHECK(tls_server_ctx(key, key, err, sizeof err) == NULL);
	printf("key as cert: %s\n", err);
	CHECK(strstr(err, key) != NULL);
	CHECK(ERR_peek_error() == 0); /* error paths leave no stale queue behind */
}

/* ---- channel binding (tls/cbind.c) ---- */

static void cbind_names(void)
{
	CHECK(tls_cb_by_name("tls-exporter") == TLS_CB_EXPORTER);
	CHECK(tls_cb_by_name("tls-server-end-point") == TLS_CB_SERVER_END_POINT);
	CHECK(tls_cb_by_name("tls-unique") == 0 && tls_cb_by_name(NULL) == 0);
	CHECK_STR(tls_cb_name(TLS_CB_EXPORTER), "tls-exporter");
	CHECK_STR(tls_cb_name(TLS_CB_SERVER_END_POINT), "tls-server-end-point");
	CHECK(tls_cb_name((enum tls_cb_type)0) == NULL);
}

/* Both ends derive the same data for each type they have; want: the mask. */
static void cbind_session(SSL_CTX *cctx, SSL_CTX *sctx, unsigned want, const EVP_MD *md)
{
	struct end c, s;
	uint8_t a[TLS_CB_MAX_DATA], b[TLS_CB_MAX_DATA], d[EVP_MAX_MD_SIZE];
	size_t al, bl;
	unsigned dl = 0;
	max_chunk = 0;
	CHECK(!end_init(&c, cctx, 0, "localhost") && !end_init(&s, sctx, 1, NULL));
	CHECK(tls_cb_available(s.ssl, 1) == 0); /* nothing before the handshake */
	CHECK(!handshake(&c, &s));
	CHECK(tls_cb_available(s.ssl, 1) == want && tls_cb_available(c.ssl, 0) == want);
	for (unsigned t = 1; t < 1u << TLS_CB_TYPES; t <<= 1) {
		int rs = tls_cb_data(s.ssl, 1, (enum tls_cb_type)t, a, &al);
		int rc = tls_cb_data(c.ssl, 0, (enum tls_cb_type)t, b, &bl);
		CHECK(rs == ((want & t) ? 0 : -ENOTSUP) && rc == rs);
		CHECK(rs || (al == bl && !memcmp(a, b, al)));
	}
	/* RFC 9266 §2: 32 bytes of the exporter with its label, empty context. */
	if (want & TLS_CB_EXPORTER) {
		CHECK(!tls_cb_data(s.ssl, 1, TLS_CB_EXPORTER, a, &al) && al == 32);
		CHECK(SSL_export_keying_material(c.ssl, b, 32, "EXPORTER-Channel-Binding", 24, NULL,
						 0, 0) == 1 && !memcmp(a, b, 32));
	}
	/* RFC 5929 §4.1: the certificate's hash with md. */
	if (want & TLS_CB_SERVER_END_POINT) {
		CHECK(!tls_cb_data(s.ssl, 1, TLS_CB_SERVER_END_POINT, a, &al));
		CHECK(X509_digest(SSL_get0_peer_certificate(c.ssl), md, d, &dl) && al == dl &&
		      !memcmp(a, d, dl));
	}
	end_free(&c);
	end_free(&s);
}

/* A server certificate made with openssl req (sig: "ed25519" or a -sha digest). */
static SSL_CTX *odd_server(const char *dir, const char *name, const char *how)
{
	char cmd[700], cert[300], key[300], err[512];
	snprintf(cert, sizeof cert, "%s/%s.pem", dir, name);
	snprintf(key, sizeof key, "%s/%s.key", dir, name);
	snprintf(cmd, sizeof cmd, "openssl req -x509 %s -nodes -days 1 -keyout %s -out %s "
		 "-subj /CN=localhost >/dev/null 2>&1", how, key, cert);
	if (system(cmd))
		return NULL;
	SSL_CTX *ctx = tls_server_ctx(cert, key, err, sizeof err);
	if (ctx)
		SSL_CTX_set_security_level(ctx, 0); /* let an SHA-1 signature load */
	return ctx;
}

static void cbind(const char *dir, SSL_CTX *cctx, SSL_CTX *c12, SSL_CTX *sctx)
{
	cbind_names();
	unsigned both = TLS_CB_EXPORTER | TLS_CB_SERVER_END_POINT;
	cbind_session(cctx, sctx, both, EVP_sha256());
	cbind_session(c12, sctx, TLS_CB_SERVER_END_POINT, EVP_sha256()); /* RFC 9266 §3 */
	CHECK(tls_cb_available(NULL, 1) == 0);
	/* RFC 5929 §4.1: SHA-1 becomes SHA-256; Ed25519 names no hash: no type. */
	SSL_CTX *sha1 = odd_server(dir, "sha1", "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -sha1");
	SSL_CTX *sha384 =
		odd_server(dir, "sha384", "-newkey ec -pkeyopt ec_paramgen_curve:P-384 -sha384");
	SSL_CTX *ed = odd_server(dir, "ed25519", "-newkey ed25519");
	CHECK(sha1 && sha384 && ed);
	SSL_CTX_set_security_level(cctx, 0);
	if (sha1)
		cbind_session(cctx, sha1, both, EVP_sha256());
	if (sha384)
		cbind_session(cctx, sha384, both, EVP_sha384());
	if (ed)
		cbind_session(cctx, ed, TLS_CB_EXPORTER, NULL);
	SSL_CTX_set_security_level(cctx, 1);
	SSL_CTX_free(sha1);
	SSL_CTX_free(sha384);
	SSL_CTX_free(ed);
}

/* ---- client certificates (tls/peercert.c) ---- */

/* A client context presenting dir/name.pem (from tests/tools/mkclientcert.sh). */
static SSL_CTX *client_with_cert(const char *dir, const char *name, const char *args)
{
	char cmd[600], cert[300], key[300], err[512];
	snprintf(cmd, sizeof cmd, "sh tests/tools/mkclientcert.sh %s %s %s >/dev/null 2>&1", dir,
		 name, args);
	snprintf(cert, sizeof cert, "%s/%s.pem", dir, name);
	snprintf(key, sizeof key, "%s/%s.key", dir, name);
	SSL_CTX *ctx = system(cmd) ? NULL : tls_client_ctx(NULL, err, sizeof err);
	if (ctx && (SSL_CTX_use_certificate_file(ctx, cert, SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)) {
		SSL_CTX_free(ctx);
		ctx = NULL;
	}
	return ctx;
}

/* Handshake with the identities the server reads: returns their count,
 * -100 when the handshake failed; ids joined by ' ' into out. */
static int peer_ids(SSL_CTX *cctx, SSL_CTX *sctx, char *out, size_t cap)
{
	struct end c, s;
	char *ids[TLS_PEER_MAX_IDS];
	max_chunk = 0;
	*out = 0;
	CHECK(!end_init(&c, cctx, 0, "localhost") && !end_init(&s, sctx, 1, NULL));
	int n = handshake(&c, &s) ? -100 : tls_peer_ids(s.ssl, ids, TLS_PEER_MAX_IDS);
	CHECK(n <= 0 || tls_peer_verified(s.ssl));
	for (int i = 0; i < n; i++) {
		snprintf(out + strlen(out), cap - strlen(out), "%s%s", i ? " " : "", ids[i]);
		free(ids[i]);
	}
	end_free(&c);
	end_free(&s);
	return n;
}

static void peercert(const char *dir, const char *cert, const char *key, SSL_CTX *cctx)
{
	char err[512], got[300], ca[300];
	SSL_CTX *one = client_with_cert(dir, "one", "one alice@localhost");
	SSL_CTX *two = client_with_cert(dir, "two", "two bob@localhost carol@localhost");
	SSL_CTX *cn = client_with_cert(dir, "cn", "bob@localhost");
	SSL_CTX *self = client_with_cert(dir, "self", "self alice@localhost");
	SSL_CTX *sctx = tls_server_ctx(cert, key, err, sizeof err);
	snprintf(ca, sizeof ca, "%s/ca.pem", dir);
	CHECK(one && two && cn && self && sctx);
	if (!one || !two || !cn || !self || !sctx)
		goto out;
	/* Without client_ca nothing is asked for, so nothing is sent. */
	CHECK(peer_ids(one, sctx, got, sizeof got) == 0);
	CHECK(tls_server_request_client_cert(sctx, "/nonexistent/ca.pem", err, sizeof err) == -1);
	CHECK(strstr(err, "/nonexistent/ca.pem") != NULL);
	CHECK(tls_server_request_client_cert(sctx, ca, err, sizeof err) == 0);
	CHECK(peer_ids(one, sctx, got, sizeof got) == 1);
	CHECK_STR(got, "alice@localhost");
	CHECK(peer_ids(two, sctx, got, sizeof got) == 2);
	CHECK_STR(got, "bob@localhost carol@localhost");
	CHECK(peer_ids(cn, sctx, got, sizeof got) == 1); /* no xmppAddr: the CN */
	CHECK_STR(got, "bob@localhost");
	/* Asked for, not required: none, or an unverifiable one, still connects. */
	CHECK(peer_ids(cctx, sctx, got, sizeof got) == 0);
	CHECK(peer_ids(self, sctx, got, sizeof got) == 0);
out:
	SSL_CTX_free(one);
	SSL_CTX_free(two);
	SSL_CTX_free(cn);
	SSL_CTX_free(self);
	SSL_CTX_free(sctx);
}

/* ---- tls_server_new: SNI and tickets ---- */

static X509 *read_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	return x;
}

/* Whether the server presents the certificate in want to a client asking
 * for name (NULL: no SNI). */
static int presents(SSL_CTX *cctx, SSL_CTX *sctx, const char *name, X509 *want)
{
	struct end c, s;
	max_chunk = 0;
	int ok = !end_init(&c, cctx, 0, name) && !end_init(&s, sctx, 1, NULL) &&
		 !handshake(&c, &s) && SSL_get0_peer_certificate(c.ssl) &&
		 !X509_cmp(SSL_get0_peer_certificate(c.ssl), want);
	end_free(&c);
	end_free(&s);
	return ok;
}

static void sni(SSL_CTX *cctx, const char *dir, const char *cert, const char *key)
{
	char ocert[300], okey[300], err[512];
	snprintf(ocert, sizeof ocert, "%s/other/cert.pem", dir);
	snprintf(okey, sizeof okey, "%s/other/key.pem", dir);
	struct tls_domain_cert d = {.domain = "other.example", .cert = ocert, .key = okey};
	struct tls_server_opts o = {.cert = cert, .key = key, .domains = &d, .ndomains = 1};
	SSL_CTX *sctx = tls_server_new(&o, err, sizeof err);
	X509 *def = read_cert(cert), *other = read_cert(ocert);
	CHECK(sctx && def && other && X509_cmp(def, other));
	if (sctx && def && other) {
		CHECK(presents(cctx, sctx, "other.example", other));
		CHECK(presents(cctx, sctx, "OTHER.example", other)); /* RFC 6066 §3: ASCII, any case */
		CHECK(presents(cctx, sctx, "localhost", def));
		CHECK(presents(cctx, sctx, "other.example.org", def));
		CHECK(presents(cctx, sctx, NULL, def));
	}
	SSL_CTX_free(sctx);
	/* A hosted domain written in Unicode matches its A-label SNI. */
	d.domain = "b\xc3\xbc" "cher.example";
	sctx = tls_server_new(&o, err, sizeof err);
	CHECK(sctx != NULL);
	if (sctx && def && other) {
		CHECK(presents(cctx, sctx, "xn--bcher-kva.example", other));
		CHECK(presents(cctx, sctx, "bcher.example", def));
	}
	d.domain = "other.example";
	X509_free(def);
	X509_free(other);
	SSL_CTX_free(sctx);
	/* A domain's file that does not load fails the whole set, naming it. */
	d.key = key;
	CHECK(tls_server_new(&o, err, sizeof err) == NULL);
	CHECK(strstr(err, key) && strstr(err, "does not match"));
	d.key = "/nonexistent/other.pem";
	CHECK(tls_server_new(&o, err, sizeof err) == NULL);
	CHECK(strstr(err, "/nonexistent/other.pem") != NULL);
	CHECK(ERR_peek_error() == 0);
}

static time_t fake_now = 1000000000;
static time_t fake_clock(void) { return fake_now; }

/* A full handshake, then one offering its session after the ticket keys'
 * clock moved by later seconds: 1 if the server resumed it, 0 if not. */
static int resumes(SSL_CTX *cctx, SSL_CTX *sctx, time_t later)
{
	struct end c, s;
	max_chunk = 0;
	CHECK(!end_init(&c, cctx, 0, "localhost") && !end_init(&s, sctx, 1, NULL));
	CHECK(!handshake(&c, &s));
	CHECK(!send_and_check(&s, &c, "x", 1)); /* the client reads TLS 1.3's ticket */
	CHECK(!SSL_session_reused(s.ssl));
	SSL_SESSION *sess = SSL_get1_session(c.ssl);
	tls_shutdown(c.ssl); /* freed without a close_notify, its session would be void */
	end_free(&c);
	end_free(&s);
	fake_now += later;
	CHECK(!end_init(&c, cctx, 0, "localhost") && !end_init(&s, sctx, 1, NULL));
	CHECK(sess && SSL_set_session(c.ssl, sess) == 1);
	CHECK(!handshake(&c, &s));
	int r = SSL_session_reused(s.ssl);
	CHECK(r == SSL_session_reused(c.ssl));
	SSL_SESSION_free(sess);
	end_free(&c);
	end_free(&s);
	return r;
}

/* One connection of a chain: offers sess (if any), reads the ticket the
 * server sends, and returns it (NULL if none came); *reused as the server saw it. */
static SSL_SESSION *chain_link(SSL_CTX *cctx, SSL_CTX *sctx, SSL_SESSION *sess, int *reused)
{
	struct end c, s;
	max_chunk = 0;
	CHECK(!end_init(&c, cctx, 0, "localhost") && !end_init(&s, sctx, 1, NULL));
	CHECK(!sess || SSL_set_session(c.ssl, sess) == 1);
	CHECK(!handshake(&c, &s));
	CHECK(!send_and_check(&s, &c, "x", 1)); /* the client reads TLS 1.3's ticket */
	*reused = SSL_session_reused(s.ssl);
	SSL_SESSION *next = SSL_get1_session(c.ssl);
	if (next && !SSL_SESSION_is_resumable(next)) {
		SSL_SESSION_free(next);
		next = NULL;
	}
	tls_shutdown(c.ssl);
	end_free(&c);
	end_free(&s);
	return next;
}

/* RFC 8446 §C.4: a TLS 1.3 client offers a ticket once, so every resumed
 * connection must bring a new one, or a returning client would resume only
 * every other time. */
static void ticket_chain(SSL_CTX *sctx)
{
	/* A client with a session cache, as OpenSSL's own (and BoringSSL's, in
	 * Android) keep one: it then offers a TLS 1.3 ticket only once. */
	char err[256];
	SSL_CTX *cctx = tls_client_ctx(NULL, err, sizeof err);
	CHECK(cctx != NULL);
	if (!cctx)
		return;
	SSL_CTX_set_session_cache_mode(cctx, SSL_SESS_CACHE_CLIENT);
	int reused;
	SSL_SESSION *sess = chain_link(cctx, sctx, NULL, &reused);
	CHECK(sess != NULL && !reused);
	for (int i = 0; i < 3 && sess; i++) {
		SSL_SESSION *next = chain_link(cctx, sctx, sess, &reused);
		CHECK(reused);
		CHECK(next != NULL && next != sess); /* a new ticket */
		SSL_SESSION_free(sess);
		sess = next;
	}
	SSL_SESSION_free(sess);
	SSL_CTX_free(cctx);
}

/* The ticket keys rotate every TLS_TICKET_PERIOD: the previous key still
 * opens tickets for one period, then it is gone. */
static void tickets(SSL_CTX *cctx, SSL_CTX *plain, const char *cert, const char *key)
{
	char err[512];
	struct tls_server_opts o = {.cert = cert, .key = key, .session_tickets = 1};
	SSL_CTX *sctx = tls_server_new(&o, err, sizeof err);
	CHECK(sctx != NULL);
	if (!sctx)
		return;
	tls_ticket_clock(fake_clock);
	CHECK(resumes(cctx, sctx, 0) == 1);
	CHECK(resumes(cctx, sctx, TLS_TICKET_PERIOD) == 1); /* sealed by the previous key */
	CHECK(resumes(cctx, sctx, 2 * TLS_TICKET_PERIOD) == 0); /* that key is gone */
	CHECK(resumes(cctx, sctx, 0) == 1);
	CHECK(resumes(cctx, plain, 0) == 0); /* tls_server_ctx: no tickets */
	ticket_chain(sctx);
	tls_ticket_clock(NULL);
	SSL_CTX_free(sctx);
}

static void remove_certs(const char *dir)
{
	if (certs_remove(dir))
		fprintf(stderr, "cannot remove %s\n", dir);
}

int main(void)
{
	/* Must precede every other OpenSSL call, or it is refused. */
	int counted = CRYPTO_set_mem_functions(mem_malloc, mem_realloc, mem_free);
	if (!counted)
		printf("OpenSSL already initialised: idle SSL size not measured\n");
	char dir[] = "/tmp/starling-test-tls-XXXXXX", cert[300], key[300], err[512];
	CHECK(mkdtemp(dir) != NULL);
	if (certs_make(dir, 1)) {
		CHECK(!"scripts/mkcert.sh failed (run from the repo root)");
		remove_certs(dir);
		CHECK_DONE();
	}
	snprintf(cert, sizeof cert, "%s/cert.pem", dir);
	snprintf(key, sizeof key, "%s/key.pem", dir);
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (char)rnd();

	SSL_CTX *sctx = tls_server_ctx(cert, key, err, sizeof err);
	SSL_CTX *cctx = tls_client_ctx(NULL, err, sizeof err);
	SSL_CTX *c12 = tls_client_ctx(NULL, err, sizeof err);
	CHECK(sctx && cctx && c12);
	if (!sctx || !cctx || !c12) {
		fprintf(stderr, "%s\n", err);
		remove_certs(dir);
		CHECK_DONE();
	}
	CHECK(SSL_CTX_set_max_proto_version(c12, TLS1_2_VERSION) == 1);

	static const size_t chunks[] = {1, 5, 64, 1500, 0};
	for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
		session(cctx, sctx, TLS1_3_VERSION, chunks[i]);
		session(c12, sctx, TLS1_2_VERSION, chunks[i]);
	}
	if (counted) {
		measure_idle(cctx, sctx, "TLS 1.3");
		measure_idle(c12, sctx, "TLS 1.2");
		/* The cm's contexts: SNI, ALPN and session tickets. */
		struct tls_server_opts o = {.cert = cert, .key = key, .session_tickets = 1};
		SSL_CTX *cm = tls_server_new(&o, err, sizeof err);
		CHECK(cm != NULL);
		if (cm) {
			measure_idle(cctx, cm, "TLS 1.3 (tickets)");
			measure_idle(c12, cm, "TLS 1.2 (tickets)");
			SSL_CTX_free(cm);
		}
	}
	tls11_refused(sctx);
	suites(sctx);
	garbage(cctx, sctx);
	verify(sctx, cert);
	ctx_errors(dir, cert, key);
	cbind(dir, cctx, c12, sctx);
	peercert(dir, cert, key, cctx);
	sni(cctx, dir, cert, key);
	tickets(cctx, sctx, cert, key);
	tickets(c12, sctx, cert, key);

	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	SSL_CTX_free(c12);
	remove_certs(dir);
	CHECK_DONE();
}
