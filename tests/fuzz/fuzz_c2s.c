/* fuzz_c2s: the cm's client stream handling (cm/c2s.c, cm/auth.c) driven as
 * the worker drives it, without io_uring or sockets.  One connection per
 * input; the harness plays the worker's loop turn (conn_flush_all() into a
 * fake submission queue whose sends complete at once), the core (credentials,
 * session open, routed stanzas, session close) and the client, which reads
 * everything sent and, when TLS is real, runs its side of the handshake.
 *
 * Input: byte 0 selects the setup,
 *
 *   bit 0    the connection counts as TLS without an SSL object, so PLAIN is
 *            offered and our output stays plaintext
 *   bit 1    direct TLS (XEP-0368) with a real handshake (overrides bit 0)
 *   bit 2    require_tls = 0
 *   bit 3    max_stanza_size = 1024
 *   bits 4-6 bytes per read: the whole segment, 1, 2, 3, 5, 8, 13 or 64
 *   bit 7    the "core" sends every routed stanza back to the client
 *
 * then the client's bytes, cut into segments by "\xff\xfe" (never valid
 * UTF-8, so no XML is lost).  The byte after a separator is a command the
 * harness runs before feeding the segment; its low 3 bits say which, bits 3-5
 * are its argument a:
 *
 *   0  nothing
 *   1  the core delivers fuzz_core_stanzas[a] to the session
 *   2  the core closes the session with reason a
 *   3  the core answers SESSION_OPENED with status a (again)
 *   4  a = 0: the client half-closes (c2s_on_eof), after a TLS close_notify
 *      if it has TLS; later bytes are not read.
 *      a = 1: this segment goes to the cm as it is, bypassing the client's
 *      TLS (garbage records, plaintext where TLS is due).
 *      a > 1: the half-close comes right after the segment's first read, in
 *      the same loop turn (before the flush), as a recv completion with data
 *      and the one reporting EOF can arrive together
 *   5  time passes: 11 s (a bit 0 = 0) or 61 s, then the timers run; a bit 1
 *      toggles whether the client reads (sends stay in flight while it does
 *      not); a bit 2 makes the next send fail with ECONNRESET
 *   6  pending credential requests get answer variant a (enum fuzz_cred);
 *      without this command they get the normal answer
 *   7  scripted SCRAM for alice: a bit 0 = 0 sends <auth/> with a
 *      client-first-message, 1 answers the last <challenge/> with the
 *      client-final-message; a bit 1 = SHA-1; a bit 2 = wrong password
 *
 * The "core" also answers SESSION_UNPARK (a resumption of an SM-ID the cm
 * does not hold, cm/sm_park.c): it has a parked session alice@localhost/parked
 * with one unacknowledged message for a token whose first character has an
 * even code, and none for the others.
 *
 * The only account is alice, password "secret".  Oracles (abort on failure):
 * every byte we send the client must be a well-formed XML stream (elements
 * re-parsed with libxml2 in the stream's namespace context), nothing may
 * follow our </stream:stream>, only alice may ever get <success/> (and a
 * SCRAM server signature must verify), and every link frame must be whole,
 * name this connection and follow the protocol: credentials only before
 * authentication, one SESSION_OPEN for alice after it, stanzas only inside
 * the session with 'from' = the bound JID and xml without from/to, and a
 * SESSION_CLOSE exactly when the core still holds the session.  Every send
 * the flush queues must be of this connection's frozen send queue.
 *
 * Received bytes are copied into one reused buffer that keeps what earlier
 * reads left after them, like the worker's provided buffers, so nothing can
 * rely on a terminator.  FUZZ_C2S_LOG=debug traces a run, with everything the
 * client receives; tests/fuzz/gen_c2s_corpus.py writes the seeds. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cm/c2s.h"
#include "cm/conn.h"
#include "cm/sm.h"
#include "cm/worker.h"
#include "lib/config.h"
#include "lib/jid.h"
#include "lib/log.h"
#include "lib/scram.h"
#include "lib/stanza.h"
#include "lib/wire.h"
#include "lib/xstream.h"
#include "tls/tls.h"

#define FUZZ_SEP0 0xff
#define FUZZ_SEP1 0xfe
#define FUZZ_USER "alice"
#define FUZZ_PASS "secret"
#define FUZZ_ITER 2 /* PBKDF2 rounds: a login per input must stay cheap */
#define FUZZ_MAX_PENDING 8
#define FUZZ_SQES 8
#define FUZZ_OUT_MAX (1u << 20)
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_STREAMS "http://etherx.jabber.org/streams"

enum fuzz_flag {
	FUZZ_F_FAKE_TLS = 1,
	FUZZ_F_DIRECT_TLS = 2,
	FUZZ_F_NO_REQUIRE_TLS = 4,
	FUZZ_F_SMALL = 8,
	FUZZ_F_ECHO = 128,
};

enum fuzz_cmd {
	FUZZ_C_NONE,
	FUZZ_C_STANZA,
	FUZZ_C_CLOSE,
	FUZZ_C_OPENED,
	FUZZ_C_EOF,
	FUZZ_C_TIME,
	FUZZ_C_CRED,
	FUZZ_C_SCRAM,
};

/* Ways the core may answer a credential request, right or wrong. */
enum fuzz_cred {
	FUZZ_CRED_HOLD,	     /* not yet: the client talks during AUTH_WAIT */
	FUZZ_CRED_OTHER,     /* a reply for another name (a stale one); the real one follows */
	FUZZ_CRED_ERROR,     /* WIRE_CRED_ERROR */
	FUZZ_CRED_TRUNCATED, /* a frame whose payload does not decode */
	FUZZ_CRED_NO_USER,   /* even for alice */
	FUZZ_CRED_BAD_KEYS,  /* OK, keys of the wrong length */
	FUZZ_CRED_HUGE_ITER, /* OK, an iteration count over the cm's bound */
	FUZZ_CRED_TWICE,     /* the normal answer, twice */
	FUZZ_CRED_NORMAL,    /* alice's creds for alice, NO_USER for anyone else */
};

static const uint8_t fuzz_piece[8] = {0, 1, 2, 3, 5, 8, 13, 64};

/* What the core may route to a bound client; the harness sets 'to'. */
struct fuzz_core_stanza {
	uint8_t kind, type;
	const char *id, *from, *xml;
};
static const struct fuzz_core_stanza fuzz_core_stanzas[8] = {
	{STANZA_MESSAGE, STANZA_T_CHAT, "m1", "bob@localhost/x",
	 "<message type='chat' id='m1'><body>hi &amp; bye</body></message>"},
	{STANZA_PRESENCE, STANZA_T_NONE, "", "bob@localhost/x", "<presence/>"},
	{STANZA_IQ, STANZA_T_GET, "q'\"<&>", "localhost",
	 "<iq type='get' id='q&apos;&quot;&lt;&amp;&gt;'><query xmlns='jabber:iq:roster'/></iq>"},
	{STANZA_PRESENCE, STANZA_T_UNAVAILABLE, "", "b\"<o>&'b@localhost/\xc3\xa9",
	 "<presence type='unavailable'/>"},
	{STANZA_MESSAGE, STANZA_T_NONE, "", "", "<message><body/></message>"},
	{STANZA_IQ, STANZA_T_RESULT, "r", "localhost", "<iq type='result' id='r'/>"},
	{STANZA_MESSAGE, STANZA_T_ERROR, "e", "carol@localhost",
	 "<message type='error' id='e'><error type='cancel'><item-not-found "
	 "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"},
	{STANZA_MESSAGE, STANZA_T_HEADLINE, "", "localhost",
	 "<message type='headline'\t><x xmlns='a:b' y='&#9;&#10;'>\xe2\x82\xac</x></message>"},
};

/* ---- per-process setup ---- */

static struct config fuzz_cfgs[4];
static SSL_CTX *fuzz_server_ctx, *fuzz_client_ctx;
/* Never swapped: each run's worker caches fuzz_server_ctx at generation 0
 * and takes no reference of its own. */
static struct tls_current fuzz_tls;
static struct scram_creds fuzz_creds[2]; /* [0] SHA-1, [1] SHA-256 */

static void fuzz_die(const char *why)
{
	fprintf(stderr, "fuzz_c2s: %s\n", why);
	abort();
}

/* A throwaway ECDSA certificate: tls_server_ctx() only loads PEM files. */
static void fuzz_write_cert(const char *cert_path, const char *key_path)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	if (!key || !x)
		fuzz_die("cannot make a key");
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	X509_NAME *n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1,
				   -1, 0);
	X509_set_issuer_name(x, n);
	if (!X509_sign(x, key, EVP_sha256()))
		fuzz_die("cannot sign the certificate");
	FILE *fc = fopen(cert_path, "w"), *fk = fopen(key_path, "w");
	if (!fc || !fk || !PEM_write_X509(fc, x) ||
	    !PEM_write_PrivateKey(fk, key, NULL, NULL, 0, NULL, NULL))
		fuzz_die("cannot write the certificate");
	fclose(fc);
	fclose(fk);
	X509_free(x);
	EVP_PKEY_free(key);
}

static void fuzz_init_tls(void)
{
	char dir[] = "/tmp/fuzz_c2s.XXXXXX", cert[64], key[64], err[256];
	if (!mkdtemp(dir))
		fuzz_die("mkdtemp");
	snprintf(cert, sizeof cert, "%s/cert.pem", dir);
	snprintf(key, sizeof key, "%s/key.pem", dir);
	fuzz_write_cert(cert, key);
	fuzz_server_ctx = tls_server_ctx(cert, key, err, sizeof err);
	unlink(cert);
	unlink(key);
	rmdir(dir);
	if (!fuzz_server_ctx)
		fuzz_die(err);
	tls_current_init(&fuzz_tls, fuzz_server_ctx);
	fuzz_client_ctx = tls_client_ctx(NULL, err, sizeof err);
	if (!fuzz_client_ctx)
		fuzz_die(err);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* FUZZ_C2S_LOG=debug shows what a reproducer does. */
	const char *lvl = getenv("FUZZ_C2S_LOG");
	int level = lvl ? log_level_parse(lvl) : -1;
	log_init("fuzz_c2s", level < 0 ? LOG_LEVEL_ERROR : (enum log_level)level);
	for (unsigned i = 0; i < 4; i++) {
		config_defaults(&fuzz_cfgs[i]);
		fuzz_cfgs[i].scram_iterations = FUZZ_ITER; /* fake creds cost this much */
		fuzz_cfgs[i].require_tls = !(i & 1);
		if (i & 2)
			fuzz_cfgs[i].max_stanza_size = 1024;
	}
	static const uint8_t salt[16] = "fuzz-salt-0123!";
	if (scram_derive(SCRAM_SHA1, FUZZ_PASS, salt, sizeof salt, FUZZ_ITER, &fuzz_creds[0]) ||
	    scram_derive(SCRAM_SHA256, FUZZ_PASS, salt, sizeof salt, FUZZ_ITER, &fuzz_creds[1]))
		fuzz_die("scram_derive");
	fuzz_init_tls();
	return 0;
}

/* ---- per-input state ---- */

struct fuzz {
	struct worker *w;
	uint32_t sid;
	uint8_t flags;
	/* the core's view */
	char *pending[FUZZ_MAX_PENDING]; /* usernames of unanswered CRED_REQs */
	unsigned n_pending;
	char *session;	   /* full JID of SESSION_OPEN (or of SESSION_UNPARKED) */
	int session_ended; /* closed by either side, or refused */
	int unparked;	   /* the session came from the core: the stream may bind after it */
	/* the client's view */
	struct xs_framer xs;
	int closed;	  /* our </stream:stream> was seen */
	int raw;	  /* this segment bypasses the client's TLS */
	int eof_same_turn; /* EOF right after the next read, before the flush */
	int stalled;	   /* the client does not read: sends stay in flight */
	int fail_send;	   /* the next send completes with -ECONNRESET */
	int expect_tls;	  /* direct TLS, or <proceed/> seen */
	SSL *ssl;	  /* the client's TLS, when the connection has one */
	struct tls_io tio;
	struct buf tls_out; /* the client's ciphertext not yet read by the cm */
	char plain[16384];
	char ring_buf[BUFRING_SIZE]; /* one provided receive buffer, reused */
	struct io_uring_sqe sqes[FUZZ_SQES]; /* the worker's submission queue, faked */
	unsigned sq_khead;		     /* the kernel consumed nothing */
	struct scram_client scram;
	int scram_on;
	char *challenge; /* decoded payload of the last <challenge/> */
	size_t challenge_len;
};

/* The live connection, as the uplink finds it (NULL once it is dead). */
static struct conn *fuzz_conn(struct fuzz *z) { return conn_by_sid(z->w, z->sid); }

/* The connection's slot while it is not released yet, dead or not. */
static struct conn *fuzz_slot(struct fuzz *z)
{
	struct conn *c = &z->w->slots[conn_slot_of_sid(z->sid)];
	return c->fd >= 0 && c->sid == z->sid ? c : NULL;
}

/* ---- the client's side: our output must be a well-formed stream ---- */

/* Re-parse one element inside a stream header's namespace context, as a
 * client would see it. Returns the element node in *el; the caller frees s. */
static void fuzz_parse_out(const char *bytes, size_t len, struct stanza *s, xmlNodePtr *el)
{
	static const char open[] = "<stream:stream xmlns='jabber:client' xmlns:stream='" NS_STREAMS
				   "'>";
	static const char close[] = "</stream:stream>";
	struct buf b = {0};
	/* The NUL is not part of the document: it only keeps stanza_parse()
	 * from reading on, whatever it does with the length it is given. */
	if (buf_append(&b, open, sizeof open - 1) || buf_append(&b, bytes, len) ||
	    buf_append(&b, close, sizeof close))
		fuzz_die("out of memory");
	if (stanza_parse(buf_head(&b), buf_avail(&b) - 1, s)) {
		fprintf(stderr, "fuzz_c2s: bad element: %.*s\n", (int)len, bytes);
		fuzz_die("the cm sent a malformed element");
	}
	buf_free(&b);
	*el = stanza_child(s->root, NULL, NULL);
	if (!*el || (*el)->next)
		fuzz_die("the cm sent an element that is not one element");
}

static int fuzz_is(xmlNodePtr el, const char *ns, const char *name)
{
	return el->ns && !strcmp((const char *)el->ns->href, ns) &&
	       !strcmp((const char *)el->name, name);
}

/* A <success/> must be alice's, and a SCRAM one must carry her server's
 * signature (RFC 5802 §3, v=). */
static void fuzz_on_success(struct fuzz *z, xmlNodePtr el)
{
	static const char alice[] = FUZZ_USER "@localhost";
	struct conn *c = fuzz_slot(z);
	/* The rest of the read may have bound a resource already. */
	if (!c || !c->jid || strncmp(c->jid, alice, sizeof alice - 1) ||
	    (c->jid[sizeof alice - 1] && c->jid[sizeof alice - 1] != '/'))
		fuzz_die("SASL success for someone who is not alice");
	if (!z->scram_on)
		return;
	char *text = stanza_text(el);
	size_t n = 0;
	uint8_t *v = text && *text ? base64_decode(text, strlen(text), &n) : NULL;
	if (v && scram_client_verify(&z->scram, (const char *)v, n))
		fuzz_die("SCRAM success with a server signature that does not verify");
	free(v);
	free(text);
}

static void fuzz_on_challenge(struct fuzz *z, xmlNodePtr el)
{
	char *text = stanza_text(el);
	free(z->challenge);
	z->challenge = NULL;
	z->challenge_len = 0;
	if (text && *text)
		z->challenge = (char *)base64_decode(text, strlen(text), &z->challenge_len);
	free(text);
}

static int fuzz_out_event(void *arg, enum xs_event ev, const char *bytes, size_t len)
{
	struct fuzz *z = arg;
	if (ev == XS_STREAM_OPEN) {
		struct xs_header h;
		if (xs_parse_header(bytes, len, &h))
			fuzz_die("the cm sent a malformed stream header");
		xs_header_free(&h);
		return XS_CB_CONTINUE;
	}
	if (ev == XS_STREAM_CLOSE) {
		z->closed = 1;
		return XS_CB_CONTINUE;
	}
	struct stanza s;
	xmlNodePtr el;
	int r = XS_CB_CONTINUE;
	fuzz_parse_out(bytes, len, &s, &el);
	if (fuzz_is(el, NS_SASL, "success")) {
		fuzz_on_success(z, el);
		r = XS_CB_RESTART; /* RFC 6120 §6.4.6 */
	} else if (fuzz_is(el, NS_SASL, "challenge")) {
		fuzz_on_challenge(z, el);
	} else if (fuzz_is(el, NS_TLS, "proceed")) {
		z->expect_tls = 1;
		r = XS_CB_RESTART; /* what follows is a new stream under TLS */
	}
	stanza_free(&s);
	return r;
}

static void fuzz_client_plain(struct fuzz *z, const char *p, size_t n)
{
	for (size_t i = 0; z->closed && i < n; i++)
		if (p[i] != ' ' && p[i] != '\n')
			fuzz_die("the cm sent bytes after its </stream:stream>");
	if (z->closed || !n)
		return;
	log_debug("to the client: %.*s", (int)n, p);
	int rc = xs_feed(&z->xs, p, n, fuzz_out_event, z);
	if (rc) {
		fprintf(stderr, "fuzz_c2s: xs_feed %d on: %.*s\n", rc, (int)n, p);
		fuzz_die("the cm's output is not a well-formed stream");
	}
}

/* Bytes the kernel would deliver to the client. */
static void fuzz_client_recv(struct fuzz *z, const char *p, size_t n)
{
	if (!z->ssl) {
		/* A client that did not start its TLS (raw segments) cannot read
		 * the records, alerts mostly, that a TLS stream sends it. */
		if (!z->expect_tls)
			fuzz_client_plain(z, p, n);
		return;
	}
	z->tio.in = (const uint8_t *)p;
	z->tio.in_len = n;
	int k;
	while ((k = tls_read(z->ssl, z->plain, sizeof z->plain)) > 0)
		fuzz_client_plain(z, z->plain, (size_t)k);
	z->tio.in = NULL;
	z->tio.in_len = 0;
	ERR_clear_error();
}

/* ---- the core's side ---- */

static void fuzz_check_stanza(struct fuzz *z, const struct wire_frame *f, struct wire_stanza *ws)
{
	if (wire_get_stanza(f, ws) || !ws->kind || ws->kind > STANZA_IQ)
		fuzz_die("the cm queued an undecodable stanza");
	if (!z->session || z->session_ended)
		fuzz_die("the cm routed a stanza outside a session");
	if (!wire_str_eq(ws->from, z->session))
		fuzz_die("the cm routed a stanza whose from is not the bound JID");
	struct stanza s;
	if (stanza_parse(ws->xml.p, ws->xml.len, &s))
		fuzz_die("the cm routed xml that does not parse");
	if (s.kind != ws->kind || s.from || s.to ||
	    (s.id ? !wire_str_eq(ws->id, s.id) : ws->id.len != 0))
		fuzz_die("the cm routed xml that disagrees with its routing header");
	stanza_free(&s);
}

static void fuzz_deliver(struct fuzz *z, const struct wire_stanza *ws)
{
	struct conn *c = fuzz_conn(z);
	if (c)
		c2s_on_stanza(z->w, c, ws);
}

/* The core sends a routed stanza straight back: the client's own xml then
 * goes through wire_stanza_render() to the client. */
static void fuzz_echo(struct fuzz *z, const struct wire_stanza *in)
{
	struct wire_stanza ws = *in;
	ws.from = in->to.len ? in->to : (struct wire_str){"localhost", 9};
	ws.to = (struct wire_str){z->session, (uint32_t)strlen(z->session)};
	fuzz_deliver(z, &ws);
}

static void fuzz_on_cred_req(struct fuzz *z, const struct wire_frame *f)
{
	struct wire_reader r;
	wire_reader_init(&r, f);
	struct wire_str u = wire_get_str(&r);
	struct conn *c = fuzz_slot(z);
	/* Link version 3: the account's bare JID, in the stream's domain (the
	 * fuzz configs host localhost only). */
	static const char dom[] = "@localhost";
	const char *at = u.len ? memchr(u.p, '@', u.len) : NULL;
	if (r.err || r.p != r.end || !at || at == u.p || memchr(u.p, 0, u.len) ||
	    (size_t)(u.p + u.len - at) != sizeof dom - 1 || memcmp(at, dom, sizeof dom - 1))
		fuzz_die("the cm asked for creds with a bad username");
	if (c && (c->flags & CONN_AUTHED))
		fuzz_die("the cm asked for creds after authentication");
	if (z->n_pending == FUZZ_MAX_PENDING)
		fuzz_die("the cm asked for creds too often"); /* bounded by SASL_MAX_ATTEMPTS */
	z->pending[z->n_pending] = wire_strdup(u);
	if (!z->pending[z->n_pending++])
		fuzz_die("out of memory");
}

static void fuzz_on_session_open(struct fuzz *z, const struct wire_frame *f)
{
	struct wire_reader r;
	wire_reader_init(&r, f);
	struct wire_str j = wire_get_str(&r);
	wire_get_str(&r); /* the client's address (link version 5) */
	if (r.err || r.p != r.end || (z->session && !(z->unparked && z->session_ended)))
		fuzz_die("bad or second SESSION_OPEN");
	free(z->session);
	z->session_ended = z->unparked = 0;
	z->session = wire_strdup(j);
	struct jid jid = {0};
	if (!z->session || jid_parse(z->session, &jid))
		fuzz_die("SESSION_OPEN for a JID that does not parse");
	char *full = jid_full(&jid);
	if (!full || strcmp(full, z->session) || !jid.resource ||
	    strncmp(z->session, FUZZ_USER "@localhost/", sizeof FUZZ_USER "@localhost/" - 1))
		fuzz_die("SESSION_OPEN for a JID that is not alice's, prepared");
	free(full);
	jid_free(&jid);
	struct conn *c = fuzz_conn(z);
	if (c)
		c2s_on_session_opened(z->w, c, 0);
}

/* XEP-0198: what the client never acknowledged comes back addressed to the
 * session, and only what the core can still use. */
static void fuzz_on_return(struct fuzz *z, const struct wire_frame *f)
{
	struct wire_stanza ws;
	if (f->sid || wire_get_stanza(f, &ws) || !z->session || !wire_str_eq(ws.to, z->session))
		fuzz_die("STANZA_RETURN without a session or not for it");
	if (!wire_stanza_returnable(&ws))
		fuzz_die("STANZA_RETURN of a stanza the core cannot use");
}

/* SESSION_UNPARK: alice asks for a session this cm does not hold.  The
 * answer goes straight to the cm, as uplink_dispatch() would hand it. */
static void fuzz_on_unpark(struct fuzz *z, const struct wire_frame *f)
{
	static const char jid[] = FUZZ_USER "@localhost/parked";
	static const char xml[] = "<message type='chat'><body>parked</body></message>";
	struct wire_reader r;
	wire_reader_init(&r, f);
	struct wire_str bare = wire_get_str(&r), token = wire_get_str(&r);
	struct conn *c = fuzz_conn(z);
	if (r.err || r.p != r.end || !wire_str_eq(bare, FUZZ_USER "@localhost") || token.len != 32 ||
	    (z->session && !z->session_ended) || !c || (c->flags & CONN_BOUND))
		fuzz_die("SESSION_UNPARK not from alice's unbound stream");
	int found = !(token.p[0] & 1);
	struct wire_stanza st = {STANZA_MESSAGE, STANZA_T_CHAT, {"p", 1},
				 {"bob@localhost/x", 15}, {jid, sizeof jid - 1}, {xml, sizeof xml - 1}};
	struct buf q = {0}, b = {0};
	struct wire_park p = {.jid = {jid, sizeof jid - 1}, .h_in = 7, .n = 1};
	struct wire_frame g;
	if (wire_put_stanza_return(&q, &st))
		fuzz_die("out of memory");
	p.q = (struct wire_str){buf_head(&q), (uint32_t)buf_avail(&q)};
	if (wire_put_unparked(&b, f->sid, found ? 0 : 1, &p) ||
	    wire_parse((const uint8_t *)buf_head(&b), buf_avail(&b), &g) <= 0)
		fuzz_die("out of memory");
	if (found) {
		free(z->session);
		if (!(z->session = strdup(jid)))
			fuzz_die("out of memory");
		z->session_ended = 0;
		z->unparked = 1;
	}
	if (sm_on_unparked(z->w, &g))
		fuzz_die("the cm refused a well-formed SESSION_UNPARKED");
	buf_free(&q);
	buf_free(&b);
}

static void fuzz_on_frame(struct fuzz *z, const struct wire_frame *f)
{
	struct wire_stanza ws;
	if (f->type == WIRE_STANZA_RETURN) {
		fuzz_on_return(z, f);
		return;
	}
	if (f->sid != z->sid)
		fuzz_die("a frame for another session id");
	switch (f->type) {
	case WIRE_CRED_REQ:
		fuzz_on_cred_req(z, f);
		break;
	case WIRE_SESSION_OPEN:
		fuzz_on_session_open(z, f);
		break;
	case WIRE_SESSION_UNPARK:
		fuzz_on_unpark(z, f);
		break;
	case WIRE_STANZA:
		fuzz_check_stanza(z, f, &ws);
		if (z->flags & FUZZ_F_ECHO)
			fuzz_echo(z, &ws);
		break;
	case WIRE_TRACE: { /* a sampled stanza's times (cm/trace.h): two, for its session */
		uint64_t t[WIRE_TRACE_MAX];
		if (wire_get_trace(f, t) != 2 || t[1] < t[0])
			fuzz_die("a malformed TRACE");
		break;
	}
	case WIRE_SESSION_CLOSE:
		if (!z->session || z->session_ended || f->plen != 1 ||
		    f->payload[0] > WIRE_CLOSE_DISCONNECT)
			fuzz_die("SESSION_CLOSE for no open session, or a bad reason");
		z->session_ended = 1;
		break;
	default:
		fuzz_die("an unexpected frame type from the cm");
	}
}

/* The cm writes whole frames only. Frames queued while these are handled
 * (echoes cannot make any, releases can) are taken on the next round. */
static void fuzz_core_recv(struct fuzz *z)
{
	while (buf_avail(&z->w->link.out)) {
		struct buf b = z->w->link.out;
		z->w->link.out = (struct buf){0};
		const uint8_t *p = (const uint8_t *)buf_head(&b);
		size_t n = buf_avail(&b);
		while (n) {
			struct wire_frame f;
			long k = wire_parse(p, n, &f);
			if (k <= 0)
				fuzz_die("the cm queued a malformed or partial frame");
			fuzz_on_frame(z, &f);
			p += k;
			n -= (size_t)k;
		}
		buf_free(&b);
	}
}

static void fuzz_send_cred(struct fuzz *z, const char *user, enum fuzz_cred how)
{
	struct wire_cred_entry e[2];
	uint8_t status = WIRE_CRED_OK;
	unsigned n = 0;
	struct buf b = {0};
	if (how == FUZZ_CRED_OTHER)
		user = "mallory@localhost";
	if (how == FUZZ_CRED_ERROR || (how != FUZZ_CRED_OTHER && strcmp(user, FUZZ_USER "@localhost")) ||
	    how == FUZZ_CRED_NO_USER)
		status = how == FUZZ_CRED_ERROR ? WIRE_CRED_ERROR : WIRE_CRED_NO_USER;
	for (; status == WIRE_CRED_OK && n < 2; n++) {
		const struct scram_creds *cr = &fuzz_creds[n];
		size_t hl = scram_hash_len(cr->hash) - (how == FUZZ_CRED_BAD_KEYS);
		e[n] = (struct wire_cred_entry){
			.hash = (uint8_t)cr->hash,
			.salt = {(const char *)cr->salt, (uint32_t)cr->salt_len},
			.iter = how == FUZZ_CRED_HUGE_ITER ? 0xffffffffu : cr->iter,
			.stored_key = {(const char *)cr->stored_key, (uint32_t)hl},
			.server_key = {(const char *)cr->server_key, (uint32_t)hl},
		};
	}
	if (wire_put_cred(&b, z->sid, status, (struct wire_str){user, (uint32_t)strlen(user)}, e,
			  n))
		fuzz_die("wire_put_cred");
	struct wire_frame f;
	if (wire_parse((const uint8_t *)buf_head(&b), buf_avail(&b), &f) <= 0)
		fuzz_die("wire_parse");
	if (how == FUZZ_CRED_TRUNCATED)
		f.plen = f.plen > 3 ? f.plen - 3 : 0;
	struct conn *c = fuzz_conn(z);
	if (c)
		c2s_on_cred(z->w, c, &f);
	if (how == FUZZ_CRED_TWICE && (c = fuzz_conn(z)))
		c2s_on_cred(z->w, c, &f);
	buf_free(&b);
}

static void fuzz_answer_creds(struct fuzz *z, enum fuzz_cred how)
{
	if (how == FUZZ_CRED_HOLD)
		return;
	for (unsigned i = 0; i < z->n_pending; i++) {
		fuzz_send_cred(z, z->pending[i], how);
		if (how != FUZZ_CRED_OTHER) /* the real answer is still to come */
			free(z->pending[i]);
	}
	if (how != FUZZ_CRED_OTHER)
		z->n_pending = 0;
}

static void fuzz_core_u8(struct fuzz *z, uint8_t type, uint8_t v)
{
	struct buf b = {0};
	struct wire_frame f;
	struct conn *c = fuzz_conn(z);
	if (!c || wire_put_u8_frame(&b, type, z->sid, v) ||
	    wire_parse((const uint8_t *)buf_head(&b), buf_avail(&b), &f) <= 0) {
		buf_free(&b);
		return;
	}
	/* As uplink_dispatch() does; the core drops its side of a session it closes. */
	if (type == WIRE_SESSION_CLOSE) {
		if ((c->flags & CONN_BOUND) && z->session)
			z->session_ended = 1;
		/* a KICK gets a condition from the same byte */
		c2s_on_session_close(z->w, c, f.payload[0], f.payload[0] % WIRE_CONDITION_COUNT);
	} else {
		if (v && (c->flags & CONN_BOUND) && z->session)
			z->session_ended = 1; /* refused: the core holds nothing */
		c2s_on_session_opened(z->w, c, f.payload[0]);
	}
	buf_free(&b);
}

static void fuzz_core_stanza(struct fuzz *z, unsigned i)
{
	const struct fuzz_core_stanza *cs = &fuzz_core_stanzas[i];
	const char *to = z->session ? z->session : FUZZ_USER "@localhost";
	struct wire_stanza ws = {
		.kind = cs->kind,
		.type = cs->type,
		.id = {cs->id, (uint32_t)strlen(cs->id)},
		.from = {cs->from, (uint32_t)strlen(cs->from)},
		.to = {to, (uint32_t)strlen(to)},
		.xml = {cs->xml, (uint32_t)strlen(cs->xml)},
	};
	fuzz_deliver(z, &ws);
}

/* ---- the worker's loop turn ---- */

/* The "kernel": the sends the flush queued complete at once, the bytes
 * going to the client; large ones in two parts, as a full socket buffer
 * would make them.  While the client does not read, a send stays in flight,
 * unless the connection was shut down, which fails it.  Returns the number of
 * sends completed. */
static unsigned fuzz_complete_sends(struct fuzz *z)
{
	struct io_uring_sq *sq = &z->w->ring.sq;
	unsigned n = sq->sqe_tail;
	struct conn *c = fuzz_slot(z);
	for (unsigned i = 0; i < n; i++) {
		const struct io_uring_sqe *sqe = &z->sqes[i];
		uint64_t ud = sqe->user_data;
		if (sqe->opcode != IORING_OP_SEND || (enum worker_op)(ud >> 56) != OP_SEND || !c ||
		    n != 1 || (uint32_t)ud != conn_slot(z->w, c) ||
		    ((ud >> 32) & 0xffffff) != (c->gen & 0xffffff) || sqe->fd != c->fd ||
		    !sqe->len || (const char *)sqe->addr != buf_head(&c->sending) ||
		    sqe->len != buf_avail(&c->sending) || !(c->flags & CONN_SENDING))
			fuzz_die("the flush queued an unexpected submission");
	}
	if (!n || (z->stalled && !(c->flags & CONN_DEAD)))
		return 0;
	const struct io_uring_sqe *sqe = &z->sqes[0];
	int res = sqe->len > 1024 ? (int)sqe->len / 2 : (int)sqe->len;
	if (c->flags & CONN_DEAD)
		res = -EPIPE;
	else if (z->fail_send)
		res = -ECONNRESET;
	z->fail_send = 0;
	if (res > 0)
		fuzz_client_recv(z, (const char *)sqe->addr, (size_t)res);
	sq->sqe_tail = 0; /* the queue is ours: nothing is ever submitted */
	conn_on_send(z->w, c, res);
	return 1;
}

/* The end of a worker loop turn: the core takes our frames, conn_flush_all()
 * starts sends (into the fake submission queue), closes and releases, and
 * the sends complete; until nothing moves. */
static void fuzz_turn(struct fuzz *z)
{
	for (int round = 0; round < 1000; round++) {
		fuzz_core_recv(z);
		conn_flush_all(z->w);
		if (!fuzz_complete_sends(z) && !buf_avail(&z->w->link.out) && !z->w->flush_head)
			return;
	}
	fuzz_die("the loop turn did not settle");
}

/* Bytes as the worker hands them over: only while it still reads, and from
 * a provided buffer that still holds whatever an earlier receive left after
 * them, as io_uring's buffer ring does. */
static void fuzz_server_recv(struct fuzz *z, const char *p, size_t n)
{
	while (n) {
		struct conn *c = fuzz_conn(z);
		if (!c || (c->flags & CONN_INPUT_DONE))
			return;
		size_t k = n < sizeof z->ring_buf ? n : sizeof z->ring_buf;
		memcpy(z->ring_buf, p, k);
		c2s_on_data(z->w, c, z->ring_buf, k);
		/* As the worker's on_recv(): no EOF for a connection already dead. */
		if (z->eof_same_turn && (c = fuzz_conn(z)) && !(c->flags & CONN_INPUT_DONE))
			c2s_on_eof(z->w, c);
		z->eof_same_turn = 0;
		fuzz_turn(z);
		p += k;
		n -= k;
	}
}

/* Ciphertext the client's TLS produced goes to the cm. */
static void fuzz_client_flush(struct fuzz *z)
{
	struct buf b = *z->tio.out;
	*z->tio.out = (struct buf){0};
	if (buf_avail(&b))
		fuzz_server_recv(z, buf_head(&b), buf_avail(&b));
	buf_free(&b);
}

/* Run the client's handshake against the cm's SSL until it settles. */
static void fuzz_client_tls(struct fuzz *z)
{
	z->tio.out = &z->tls_out;
	z->ssl = tls_new(fuzz_client_ctx, &z->tio, 0, "localhost");
	if (!z->ssl)
		fuzz_die("tls_new (client)");
	for (int i = 0; i < 8 && fuzz_conn(z) && !tls_handshake_done(z->ssl); i++) {
		if (tls_read(z->ssl, z->plain, sizeof z->plain) < 0)
			break;
		fuzz_client_flush(z);
	}
	fuzz_client_flush(z); /* the client's Finished */
	ERR_clear_error();
}

/* One read's worth of client bytes, encrypted when TLS is up. */
static void fuzz_client_send(struct fuzz *z, const char *p, size_t n)
{
	/* Direct TLS, or after <proceed/> (the rest of that read was void, RFC
	 * 6120 §5.4.3.3): the handshake comes first, unless this segment is to
	 * hit the cm's TLS raw. */
	struct conn *c = fuzz_conn(z);
	if (c && c->ssl && !z->ssl && !z->raw)
		fuzz_client_tls(z);
	if (!z->ssl || z->raw) {
		fuzz_server_recv(z, p, n);
		return;
	}
	if (tls_write(z->ssl, p, n) == 0)
		fuzz_client_flush(z);
	ERR_clear_error();
}

static void fuzz_feed(struct fuzz *z, const char *p, size_t n)
{
	size_t step = fuzz_piece[(z->flags >> 4) & 7];
	if (!step)
		step = n;
	for (size_t i = 0; i < n; i += step)
		fuzz_client_send(z, p + i, n - i < step ? n - i : step);
}

/* Command 7: a real SCRAM exchange for alice, which the fuzzer could not
 * complete itself (the server nonce is random). */
static void fuzz_scram(struct fuzz *z, unsigned a)
{
	enum scram_hash h = (a & 2) ? SCRAM_SHA1 : SCRAM_SHA256;
	char *msg = NULL;
	const char *el = "response";
	if (!(a & 1)) {
		scram_client_free(&z->scram);
		memset(&z->scram, 0, sizeof z->scram);
		msg = scram_client_first(&z->scram, h, FUZZ_USER, (a & 4) ? "wrong" : FUZZ_PASS,
					 "fuzz-nonce");
		z->scram_on = msg != NULL;
		el = "auth";
	} else if (z->scram_on && z->challenge) {
		msg = scram_client_final(&z->scram, z->challenge, z->challenge_len);
	}
	if (!msg)
		return;
	char *b64 = base64_encode((const uint8_t *)msg, strlen(msg));
	char x[8192];
	int n = snprintf(x, sizeof x, "<%s xmlns='" NS_SASL "' mechanism='%s'>%s</%s>", el,
			 scram_mech_name(h), b64 ? b64 : "", el);
	if (n > 0 && (size_t)n < sizeof x)
		fuzz_feed(z, x, (size_t)n);
	free(b64);
	free(msg);
}

/* A client that leaves: close_notify first when it speaks TLS, then the
 * half-close. */
static void fuzz_client_close(struct fuzz *z)
{
	if (z->ssl) {
		tls_shutdown(z->ssl);
		fuzz_client_flush(z);
		ERR_clear_error();
	}
	struct conn *c = fuzz_conn(z);
	if (c && !(c->flags & CONN_INPUT_DONE))
		c2s_on_eof(z->w, c);
}

static void fuzz_command(struct fuzz *z, uint8_t cmd)
{
	unsigned a = (cmd >> 3) & 7;
	z->raw = 0;
	z->eof_same_turn = 0;
	enum fuzz_cmd op = (enum fuzz_cmd)(cmd & 7);
	fuzz_answer_creds(z, op == FUZZ_C_CRED ? (enum fuzz_cred)a : FUZZ_CRED_NORMAL);
	switch (op) {
	case FUZZ_C_NONE:
	case FUZZ_C_CRED:
		break;
	case FUZZ_C_STANZA:
		fuzz_core_stanza(z, a);
		break;
	case FUZZ_C_CLOSE:
		fuzz_core_u8(z, WIRE_SESSION_CLOSE, (uint8_t)a);
		break;
	case FUZZ_C_OPENED:
		fuzz_core_u8(z, WIRE_SESSION_OPENED, (uint8_t)a);
		break;
	case FUZZ_C_EOF:
		if (a == 1)
			z->raw = 1;
		else if (a)
			z->eof_same_turn = 1;
		else
			fuzz_client_close(z);
		break;
	case FUZZ_C_TIME:
		z->stalled ^= !!(a & 2);
		z->fail_send = !!(a & 4);
		z->w->now_ms += (a & 1) ? 61000 : 11000;
		conn_timers_run(z->w);
		break;
	case FUZZ_C_SCRAM:
		fuzz_turn(z); /* the answer to the creds brings the challenge */
		fuzz_scram(z, a);
		break;
	}
	fuzz_turn(z);
}

static const uint8_t *fuzz_find_sep(const uint8_t *p, const uint8_t *end)
{
	for (; p + 1 < end; p++)
		if (p[0] == FUZZ_SEP0 && p[1] == FUZZ_SEP1)
			return p;
	return end;
}

static void fuzz_setup(struct fuzz *z, uint8_t flags)
{
	z->flags = flags;
	/* Not zeros: no NUL may end an element by luck. */
	memset(z->ring_buf, 'A', sizeof z->ring_buf);
	z->w = calloc(1, sizeof *z->w);
	if (!z->w)
		fuzz_die("out of memory");
	z->w->cfg = &fuzz_cfgs[(flags >> 2) & 3];
	z->w->tls = &fuzz_tls;
	z->w->tls_ctx = fuzz_server_ctx;
	z->w->tls_gen = 0;
	z->w->link.fd = -1;
	z->w->link.up = 1; /* resumptions may be asked of the core */
	z->w->now_ms = 1000;
	/* worker_sqe() takes entries from this queue with io_uring_get_sqe(),
	 * which reads only these fields (liburing 2.x); no ring is ever set up,
	 * and fuzz_complete_sends() empties the queue before it can fill. */
	z->w->ring.sq.khead = &z->sq_khead;
	z->w->ring.sq.ring_mask = FUZZ_SQES - 1;
	z->w->ring.sq.ring_entries = FUZZ_SQES;
	z->w->ring.sq.sqes = z->sqes;
	if (conn_table_init(z->w, 4))
		fuzz_die("conn_table_init");
	/* A real descriptor: conn_by_sid() wants fd >= 0, and the release
	 * closes it. */
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	struct conn *c = fd < 0 ? NULL : conn_alloc(z->w, fd);
	if (!c)
		fuzz_die("conn_alloc");
	z->sid = c->sid;
	xs_init(&z->xs, FUZZ_OUT_MAX);
	conn_timer_set(z->w, c, CONN_TIMER_LOGIN, (uint64_t)z->w->cfg->auth_timeout * 1000);
	c2s_on_accept(z->w, c, !!(flags & FUZZ_F_DIRECT_TLS));
	z->expect_tls = !!(flags & FUZZ_F_DIRECT_TLS);
	if (!(flags & FUZZ_F_DIRECT_TLS) && (flags & FUZZ_F_FAKE_TLS))
		c->flags |= CONN_TLS;
}

static void fuzz_teardown(struct fuzz *z)
{
	fuzz_answer_creds(z, FUZZ_CRED_NORMAL);
	z->stalled = 0; /* the client reads what is left */
	fuzz_turn(z);
	/* The worker's shutdown: every connection goes, bound ones tell the core. */
	z->w->ring.sq.sqe_tail = 0;
	conn_table_free(z->w);
	fuzz_core_recv(z);
	if (z->session && !z->session_ended)
		fuzz_die("the connection went without closing its session in the core");
	for (unsigned i = 0; i < z->n_pending; i++)
		free(z->pending[i]);
	free(z->session);
	free(z->challenge);
	scram_client_free(&z->scram);
	xs_free(&z->xs);
	if (z->ssl)
		SSL_free(z->ssl);
	buf_free(&z->tls_out);
	uplink_free(&z->w->link);
	free(z->w->paused);
	sm_replies_free(z->w);
	free(z->w);
	ERR_clear_error();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct fuzz z = {0};
	fuzz_setup(&z, data[0]);
	const uint8_t *p = data + 1, *end = data + size;
	for (int first = 1; p < end; first = 0) {
		if (!first)
			fuzz_command(&z, *p++);
		const uint8_t *q = fuzz_find_sep(p, end);
		fuzz_feed(&z, (const char *)p, (size_t)(q - p));
		p = q < end ? q + 2 : end;
	}
	fuzz_teardown(&z);
	return 0;
}
