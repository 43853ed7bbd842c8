/* xmpp: the client side of RFC 6120/6121 that the bench needs: stream
 * header, STARTTLS, SASL (PLAIN, SCRAM-SHA-1/256), bind, presence and chat
 * messages, and for pep XEP-0163 publications with the XEP-0115 entity caps
 * that ask for their notifications; with --sasl2, XEP-0388 SASL2 with
 * XEP-0386 Bind 2 inline in place of SASL, the stream restart and bind.
 * The server's stream is cut into whole elements by lib/xstream; each
 * element is recognised by a few byte checks, not parsed, to keep the
 * client far cheaper per stanza than the server it measures. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/randpool.h"
#include "bench.h"
#include "cut.h"

#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_BIND "urn:ietf:params:xml:ns:xmpp-bind"
#define NS_SASL2 "urn:xmpp:sasl:2"
#define NS_BIND2 "urn:xmpp:bind:0"
#define NS_ROSTER "jabber:iq:roster"
#define NS_PING "urn:xmpp:ping"
#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_CAPS "http://jabber.org/protocol/caps"
#define NS_PUBSUB "http://jabber.org/protocol/pubsub"
#define PEP_NODE "urn:starling:bench" /* the node published to, and the payload's namespace */
#define BENCH_MAX_ELEMENT (1u << 20)

/* pep: what the bench says it is (XEP-0030 §3.1) and the XEP-0115 ver of
 * exactly that, side by side: the server checks that the answer hashes to
 * the ver (§5.4) before it trusts it, so changing one means computing the
 * other again.  §5.1: "category/type/lang/name<" per identity, then
 * "var<" per feature, each list in byte order (as the features are here):
 *   python3 -c 'import hashlib, base64; print(base64.b64encode(hashlib.sha1(
 *     b"client/bot//starling-bench<http://jabber.org/protocol/caps<"
 *     b"http://jabber.org/protocol/disco#info<urn:starling:bench+notify<"
 *     b"urn:xmpp:ping<").digest()).decode())'
 * PEP_NODE "+notify" is the filter that asks for the node's notifications
 * (XEP-0163 §4.2). */
#define CAPS_NODE "https://starling.bench"
#define CAPS_VER "luamlLkwA/IHSZwgXPCOOXnyCN4="
#define CAPS_DISCO                                                                  \
	"<identity category='client' type='bot' name='starling-bench'/>"           \
	"<feature var='" NS_CAPS "'/><feature var='" NS_DISCO_INFO "'/>"            \
	"<feature var='" PEP_NODE "+notify'/><feature var='" NS_PING "'/>"
/* XEP-0115 §4: initial presence naming them; the server asks once per ver */
#define CAPS_PRESENCE                                                               \
	"<presence><c xmlns='" NS_CAPS "' hash='sha-1' node='" CAPS_NODE "' ver='"  \
	CAPS_VER "'/></presence>"
#define PLAIN_CAP 65536

const char *const bench_fail_names[FAIL_NCAUSES] = {
	[FAIL_CONNECT] = "connect",	[FAIL_TLS] = "tls",
	[FAIL_AUTH] = "auth",		[FAIL_BIND] = "bind",
	[FAIL_ROSTER] = "roster",
	[FAIL_STREAM_ERR] = "stream-error", [FAIL_CLOSED] = "closed",
	[FAIL_PROTOCOL] = "protocol",	[FAIL_TIMEOUT] = "timeout",
};

static int has(const char *el, size_t len, const char *needle)
{
	return memmem(el, len, needle, strlen(needle)) != NULL;
}

static int starts(const char *el, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);
	return len >= n && !memcmp(el, prefix, n);
}

int xmpp_send(struct bench_run *r, struct bench_conn *c, const char *s, size_t len)
{
	(void)r;
	if (c->rec.suite)
		return rec_write(&c->rec, s, len, &c->out);
	if (!c->ssl)
		return buf_append(&c->out, s, len);
	int rc = tls_write(c->ssl, s, len);
	return rc == -EAGAIN ? -EPROTO : rc; /* only called once the handshake is done */
}

static int send_n(struct bench_run *r, struct bench_conn *c, const char *s, size_t n)
{
	int rc = xmpp_send(r, c, s, n);
	if (rc)
		xmpp_fail(r, c, FAIL_PROTOCOL, "send buffer");
	return rc;
}

static int send_str(struct bench_run *r, struct bench_conn *c, const char *s)
{
	return send_n(r, c, s, strlen(s));
}

/* RFC 6120 §4.7 */
static int send_header(struct bench_run *r, struct bench_conn *c)
{
	char h[320];
	snprintf(h, sizeof h, "<?xml version='1.0'?><stream:stream to='%s' version='1.0' "
		 "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
		 r->opt.domain);
	return send_str(r, c, h);
}

static int start_tls(struct bench_run *r, struct bench_conn *c)
{
	c->io = (struct tls_io){ .in = NULL, .in_len = 0, .out = &c->out };
	c->ssl = tls_new(r->ctx, &c->io, 0, r->opt.domain);
	if (!c->ssl) {
		xmpp_fail(r, c, FAIL_TLS, "tls_new");
		return -ENOMEM;
	}
	if (!r->opt.openssl_records)
		SSL_set_app_data(c->ssl, &c->rec); /* the key log callback fills it */
	char dummy[1];
	if (tls_read(c->ssl, dummy, sizeof dummy) < 0) { /* queues the ClientHello */
		xmpp_fail(r, c, FAIL_TLS, "ClientHello");
		return -EPROTO;
	}
	c->state = CS_HANDSHAKE;
	return 0;
}

int xmpp_connected(struct bench_run *r, struct bench_conn *c)
{
	xs_init(&c->xs, BENCH_MAX_ELEMENT);
	if (r->opt.direct_tls)
		return start_tls(r, c); /* XEP-0368: TLS first, then the stream */
	c->state = CS_FEATURES_TLS;
	return send_header(r, c);
}

void xmpp_fail(struct bench_run *r, struct bench_conn *c, enum bench_fail why, const char *what)
{
	if (c->state == CS_DEAD)
		return;
	if (c->state == CS_ONLINE) {
		BENCH_COUNT(r, dropped, 1);
		log_warn("conn %u: session lost: %s (%s)", c->idx, bench_fail_names[why], what);
	} else if (faults_again(c)) {
		r->fl.relogin_failures++;
		log_debug("conn %u: login again failed: %s (%s)", c->idx, bench_fail_names[why],
			  what);
	} else {
		BENCH_COUNT(r, failed, 1);
		r->fail[why]++;
		log_debug("conn %u: login failed: %s (%s)", c->idx, bench_fail_names[why], what);
	}
	faults_lost(c);
	c->state = CS_DEAD;
}

/* Text content of a simple element <x ...>TEXT</x>; empty for <x/>. */
static const char *el_text(const char *el, size_t len, size_t *tlen)
{
	const char *gt = memchr(el, '>', len);
	*tlen = 0;
	if (!gt || gt[-1] == '/')
		return el;
	const char *end = el + len;
	const char *lt = memrchr(gt, '<', (size_t)(end - gt));
	if (!lt || lt <= gt)
		return el;
	*tlen = (size_t)(lt - gt - 1);
	return gt + 1;
}

/* The text of the first element name inside el (a whole element), as
 * <name ...>TEXT</name>; its length in *tlen: 0 for <name/>, up to the
 * first markup for an element with children.  NULL when there is none.
 * For the children of a SASL2 <success/>, read once a login: no parser (no
 * comments, CDATA or '>' in attribute values there). */
static const char *child_text(const char *el, size_t len, const char *name, size_t *tlen)
{
	size_t nl = strlen(name);
	const char *end = el + len, *p = el + 1; /* past el's own start tag's '<' */
	*tlen = 0;
	for (; (p = memchr(p, '<', (size_t)(end - p))); p++) {
		if ((size_t)(end - p) > nl + 1 && !memcmp(p + 1, name, nl) &&
		    memchr(" \t\r\n/>", p[nl + 1], 6))
			break; /* <name, and the name ends there */
	}
	const char *gt = p ? memchr(p + nl + 1, '>', (size_t)(end - p - nl - 1)) : NULL;
	if (!gt || gt[-1] == '/')
		return gt;
	const char *lt = memchr(gt, '<', (size_t)(end - gt));
	if (!lt)
		return NULL;
	*tlen = (size_t)(lt - gt - 1);
	return gt + 1;
}

/* Whether the mechanism (want: ">NAME<") is offered: in the legacy
 * <mechanisms/> (RFC 6120 §6.4.1), or with --sasl2 in <authentication/>
 * (XEP-0388 §2.1), whose list may differ from the legacy one. */
static int offered(const struct bench_run *r, const char *el, size_t len, const char *want)
{
	if (!r->opt.sasl2)
		return has(el, len, want);
	const char *a = memmem(el, len, "<authentication", 15);
	const char *e = a ? memmem(a, (size_t)(el + len - a), "</authentication>", 17) : NULL;
	return e && has(a, (size_t)(e - a), want);
}

/* The mechanism's initial response in base64, malloc'd; NULL when out of
 * memory.  <auth/> and SASL2's <initial-response/> carry the same. */
static char *initial_response(struct bench_run *r, struct bench_conn *c)
{
	char user[128];
	snprintf(user, sizeof user, r->opt.user_pat, r->opt.first + (int)c->idx);
	char *payload, *b64;
	size_t plen;
	if (r->opt.mech == BENCH_PLAIN) { /* RFC 4616 §2: authzid NUL authcid NUL passwd */
		size_t ul = strlen(user), pl = strlen(r->opt.password);
		payload = malloc(ul + pl + 2);
		if (payload) {
			payload[0] = 0;
			memcpy(payload + 1, user, ul + 1);
			memcpy(payload + ul + 2, r->opt.password, pl);
		}
		plen = ul + pl + 2;
	} else {
		enum scram_hash h = r->opt.mech == BENCH_SCRAM_SHA1 ? SCRAM_SHA1 : SCRAM_SHA256;
		payload = scram_client_first(&c->scram, h, user, r->opt.password, NULL);
		plen = payload ? strlen(payload) : 0;
	}
	b64 = payload ? base64_encode((const uint8_t *)payload, plen) : NULL;
	free(payload); /* ours (malloc here or in scram_client_first) */
	return b64;
}

/* RFC 6120 §6.4.2 */
static int send_auth(struct bench_run *r, struct bench_conn *c, const char *mech,
		     const char *b64)
{
	char head[128];
	snprintf(head, sizeof head, "<auth xmlns='" NS_SASL "' mechanism='%s'>", mech);
	c->state = CS_AUTH; /* before the send: a failed one leaves CS_DEAD */
	int rc = send_str(r, c, head);
	if (!rc)
		rc = send_str(r, c, b64);
	if (!rc)
		rc = send_str(r, c, "</auth>");
	return rc;
}

/* A UUID version 4 (RFC 9562 §5.4): 122 random bits, the version and the
 * variant set. */
static int uuid_v4(char out[37])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t b[16];
	if (randpool_bytes(b, sizeof b))
		return -EIO;
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*out++ = '-';
		*out++ = hex[b[i] >> 4];
		*out++ = hex[b[i] & 15];
	}
	*out = 0;
	return 0;
}

/* XEP-0388 §2.3: mechanism and initial response in one element, with a
 * Bind 2 request (XEP-0386 §3.2) so that <success/> comes with the resource
 * bound.  The <user-agent/> id must be a UUID v4 (§2.3); it is this
 * login's, not a stable one: the server SHOULD end earlier sessions with
 * the same id (XEP-0386 §3.2), and each connection is a client of its own.
 * The tag is the resource legacy bind asks for: the full JIDs stay
 * distinct. */
static int send_authenticate(struct bench_run *r, struct bench_conn *c, const char *mech,
			     const char *b64)
{
	char uuid[37], *a;
	if (uuid_v4(uuid)) {
		xmpp_fail(r, c, FAIL_AUTH, "no random bytes");
		return -EIO;
	}
	if (asprintf(&a, "<authenticate xmlns='" NS_SASL2 "' mechanism='%s'>"
		     "<initial-response>%s</initial-response>"
		     "<user-agent id='%s'><software>starling-bench</software></user-agent>"
		     "<bind xmlns='" NS_BIND2 "'><tag>%s%u</tag></bind></authenticate>",
		     mech, b64, uuid, r->opt.resource, c->idx) < 0) {
		xmpp_fail(r, c, FAIL_AUTH, "out of memory");
		return -ENOMEM;
	}
	c->state = CS_AUTH2; /* before the send: a failed one leaves CS_DEAD */
	int rc = send_str(r, c, a);
	free(a);
	return rc;
}

static int sasl_start(struct bench_run *r, struct bench_conn *c, const char *el, size_t len)
{
	static const char *const names[] = { [BENCH_PLAIN] = "PLAIN",
		[BENCH_SCRAM_SHA1] = "SCRAM-SHA-1", [BENCH_SCRAM_SHA256] = "SCRAM-SHA-256" };
	char want[64];
	snprintf(want, sizeof want, ">%s<", names[r->opt.mech]);
	if (!offered(r, el, len, want)) {
		xmpp_fail(r, c, FAIL_AUTH, "mechanism not offered");
		return -ENOTSUP;
	}
	char *b64 = initial_response(r, c);
	if (!b64) {
		xmpp_fail(r, c, FAIL_AUTH, "out of memory");
		return -ENOMEM;
	}
	int rc = r->opt.sasl2 ? send_authenticate(r, c, names[r->opt.mech], b64)
			      : send_auth(r, c, names[r->opt.mech], b64);
	free(b64);
	return rc;
}

/* Decoded SASL data of base64 text t; malloc'd, NUL-terminated. */
static char *sasl_data(const char *t, size_t tl, size_t *out_len)
{
	if (!tl || tl > SCRAM_MAX_MSG * 2)
		return NULL;
	uint8_t *d = base64_decode(t, tl, out_len);
	return (char *)d;
}

/* Decoded payload of <challenge/> or <success/>; malloc'd, NUL-terminated. */
static char *sasl_payload(const char *el, size_t len, size_t *out_len)
{
	size_t tl;
	const char *t = el_text(el, len, &tl);
	return sasl_data(t, tl, out_len);
}

/* A challenge (SASL or SASL2, whose payloads are the same): the answer
 * opens with open, the <response/> start tag of the challenge's namespace. */
static int sasl_challenge(struct bench_run *r, struct bench_conn *c, const char *el, size_t len,
			  const char *open)
{
	size_t dl;
	char *d = r->opt.mech == BENCH_PLAIN ? NULL : sasl_payload(el, len, &dl);
	char *fin = d ? scram_client_final(&c->scram, d, dl) : NULL;
	free(d);
	char *b64 = fin ? base64_encode((const uint8_t *)fin, strlen(fin)) : NULL;
	free(fin);
	if (!b64) {
		xmpp_fail(r, c, FAIL_AUTH, "bad challenge");
		return -EINVAL;
	}
	int rc = send_str(r, c, open);
	if (!rc)
		rc = send_str(r, c, b64);
	if (!rc)
		rc = send_str(r, c, "</response>");
	free(b64);
	return rc;
}

/* The server's SCRAM proof, base64 text t (tl bytes), must be there and
 * match (RFC 5802 §5.1). */
static int server_proof(struct bench_run *r, struct bench_conn *c, const char *t, size_t tl)
{
	size_t dl;
	char *d = sasl_data(t, tl, &dl);
	int rc = d ? scram_client_verify(&c->scram, d, dl) : -EINVAL;
	free(d);
	scram_client_free(&c->scram);
	memset(&c->scram, 0, sizeof c->scram);
	if (rc)
		xmpp_fail(r, c, FAIL_AUTH, "server signature");
	return rc;
}

/* <success/>: for SCRAM the server's proof is its text (RFC 6120 §6.3.10
 * additional data with success). */
static int sasl_success(struct bench_run *r, struct bench_conn *c, const char *el, size_t len)
{
	if (r->opt.mech != BENCH_PLAIN) {
		size_t tl;
		const char *t = el_text(el, len, &tl);
		int rc = server_proof(r, c, t, tl);
		if (rc)
			return rc;
	}
	c->state = CS_FEATURES_BIND;
	return send_header(r, c); /* RFC 6120 §6.4.6: restart the stream */
}

static int send_bind(struct bench_run *r, struct bench_conn *c)
{
	char iq[256];
	snprintf(iq, sizeof iq, "<iq type='set' id='bind1'><bind xmlns='" NS_BIND "'>"
		 "<resource>%s%u</resource></bind></iq>", r->opt.resource, c->idx);
	c->state = CS_BIND;
	return send_str(r, c, iq);
}

/* The session is established: record the login and announce presence. */
static void logged_in(struct bench_run *r, struct bench_conn *c)
{
	uint64_t now = bench_now();
	c->state = CS_ONLINE;
	if (faults_again(c)) { /* --faults: a session back, not a login of the run's */
		r->fl.relogins++;
		c->fl->backoff_ms = 0;
		r->fl_progress_ns = now;
		faults_online(r, c);
		return;
	}
	hist_record(&r->login_lat, now - c->start_ns);
	hist_record(&r->sec_lat, now - c->start_ns); /* logins end before traffic starts */
	if (!r->first_login_ns)
		r->first_login_ns = now;
	r->last_login_ns = now;
	BENCH_COUNT(r, online, 1);
	if (c->fl)
		faults_online(r, c);
	else if (c->want_presence) /* RFC 6121 §4.2 initial presence */
		send_str(r, c, r->opt.scenario == BENCH_PEP ? CAPS_PRESENCE : "<presence/>");
}

/* The resource is bound: fetch the roster as clients do before initial
 * presence (RFC 6121 §2.2), or be online. */
static void after_bind(struct bench_run *r, struct bench_conn *c)
{
	if (!r->opt.roster) {
		logged_in(r, c);
		return;
	}
	c->state = CS_ROSTER;
	send_str(r, c, "<iq type='get' id='roster1'><query xmlns='" NS_ROSTER "'/></iq>");
}

/* Bind result: keep the full JID (chat partners address it), then go on
 * (after_bind). */
static void bound(struct bench_run *r, struct bench_conn *c, const char *el, size_t len)
{
	const char *j = memmem(el, len, "<jid>", 5);
	const char *e = j ? memmem(j, len - (size_t)(j - el), "</jid>", 6) : NULL;
	if (!e || e - j - 5 > 3071) {
		xmpp_fail(r, c, FAIL_BIND, "no <jid/> in bind result");
		return;
	}
	c->jid = strndup(j + 5, (size_t)(e - j - 5));
	if (!c->jid) {
		xmpp_fail(r, c, FAIL_BIND, "out of memory");
		return;
	}
	after_bind(r, c);
}

/* XEP-0388 §2.6.1 <success/> of an <authenticate/> with Bind 2: for SCRAM
 * the server's proof in <additional-data/>; <bound/> (XEP-0386 §3.2) and
 * the full JID in <authorization-identifier/> (bare without a bind).  There
 * is no stream restart: the features of the authenticated stream follow,
 * and are let pass in the states after this one (on_element). */
static int sasl2_success(struct bench_run *r, struct bench_conn *c, const char *el, size_t len)
{
	size_t tl;
	const char *t;
	if (r->opt.mech != BENCH_PLAIN) {
		t = child_text(el, len, "additional-data", &tl);
		int rc = server_proof(r, c, t, tl);
		if (rc)
			return rc;
	}
	if (!child_text(el, len, "bound", &tl)) {
		xmpp_fail(r, c, FAIL_BIND, "no bind2");
		return -EPROTO;
	}
	t = child_text(el, len, "authorization-identifier", &tl);
	if (!t || !tl || tl > 3071 || !memchr(t, '/', tl)) {
		xmpp_fail(r, c, FAIL_BIND, "no full JID in <authorization-identifier/>");
		return -EPROTO;
	}
	c->jid = strndup(t, tl);
	if (!c->jid) {
		xmpp_fail(r, c, FAIL_BIND, "out of memory");
		return -ENOMEM;
	}
	after_bind(r, c);
	return c->state == CS_DEAD ? -EPROTO : 0;
}

/* Servers quote attributes either way. */
static int has_id(const char *el, size_t len, const char *id)
{
	char a[40], b[40];
	snprintf(a, sizeof a, "id='%s'", id);
	snprintf(b, sizeof b, "id=\"%s\"", id);
	return has(el, len, a) || has(el, len, b);
}

static int is_result(const char *el, size_t len)
{
	return has(el, len, "type='result'") || has(el, len, "type=\"result\"");
}

/* The first place of tag (which starts with '<') in el: a memchr() from one
 * '<' to the next, cheaper than memmem() over a stanza's few tags. */
static const char *find_tag(const char *el, size_t len, const char *tag, size_t tl)
{
	const char *p = el, *end = el + len;
	while ((size_t)(end - p) >= tl && (p = memchr(p, '<', (size_t)(end - p) - tl + 1))) {
		if (!memcmp(p, tag, tl))
			return p;
		p++;
	}
	return NULL;
}

/* The number at t (before end) in *sent; 0 when there is none.  Up to 23
 * digits are read, a value past 2^64 - 1 saturating (as strtoull() did). */
static int stamp_at(const char *t, const char *end, uint64_t *sent)
{
	size_t i = 0;
	uint64_t v = 0;
	for (; t + i < end && i < 23 && (unsigned)(t[i] - '0') < 10; i++) {
		unsigned d = (unsigned)(t[i] - '0');
		/* 19 digits never pass 2^64 - 1: no check (a division) before */
		v = i < 19 || v <= (UINT64_MAX - d) / 10 ? v * 10 + d : UINT64_MAX;
	}
	if (i)
		*sent = v;
	return i > 0;
}

/* The stamp after tag (t=<intended send time, ns>) in *sent; 0 when the
 * element carries none. */
static int stamp_of(const char *el, size_t len, const char *tag, uint64_t *sent)
{
	size_t tl = strlen(tag);
	const char *t = find_tag(el, len, tag, tl);
	return t && stamp_at(t + tl, el + len, sent);
}

/* The stamp of a published item, <stamp xmlns='urn:starling:bench'>t=…:
 * the server writes the payload out again, in its own quotes, so only the
 * name and the text are looked at. */
static int item_stamp(const char *el, size_t len, uint64_t *sent)
{
	const char *t = find_tag(el, len, "<stamp", 6), *end = el + len;
	const char *gt = t ? memchr(t, '>', (size_t)(end - t)) : NULL;
	return gt && end - gt > 3 && gt[1] == 't' && gt[2] == '=' && stamp_at(gt + 3, end, sent);
}

/* A stamped chat message or presence update arrived: latency from its
 * intended send time to now. */
static void latency(struct bench_run *r, uint64_t sent)
{
	uint64_t now = bench_now(), lat = now > sent ? now - sent : 0;
	hist_record(&r->msg_lat, lat);
	hist_record(&r->step_lat, lat);
	hist_record(&r->sec_lat, lat);
}

static void delivered(struct bench_run *r, struct bench_conn *c, uint64_t sent)
{
	if (r->opt.scenario == BENCH_CHAT) { /* RFC 6120 §10.1: in order, once */
		if (sent <= c->last_rx_stamp) {
			r->msgs_reordered++;
			log_warn("conn %u: message stamped %" PRIu64 " after %" PRIu64, c->idx, sent,
				 c->last_rx_stamp);
		}
		c->last_rx_stamp = sent;
	}
	latency(r, sent);
	BENCH_COUNT(r, msgs_recv, 1);
}

/* Whether the start tag's from attribute is exactly jid. */
static int from_is(const char *el, size_t len, const char *jid)
{
	const char *gt = memchr(el, '>', len), *f = gt ? memmem(el, (size_t)(gt - el), " from=", 6)
						       : NULL;
	if (!f || !jid)
		return 0;
	char q = f[6];
	size_t jl = strlen(jid);
	const char *v = f + 7;
	return (q == '\'' || q == '"') && v + jl < gt && !memcmp(v, jid, jl) && v[jl] == q;
}

/* A chat message: every one the bench receives must carry its stamp. */
static void message_received(struct bench_run *r, struct bench_conn *c, const char *el,
			     size_t len)
{
	uint64_t sent;
	if (stamp_of(el, len, "<body>t=", &sent))
		delivered(r, c, sent);
	else
		r->msgs_bad++;
}

/* Presence scenario: a contact's stamped update.  Presence without a stamp
 * (initial presence, unavailable) and the server's echo of our own update
 * to our own resource (RFC 6121 §4.4.2, not every server sends it) are not
 * fan-out and are not counted. */
static void presence_received(struct bench_run *r, struct bench_conn *c, const char *el,
			      size_t len)
{
	uint64_t sent;
	if (r->opt.scenario == BENCH_PRESENCE && stamp_of(el, len, "<status>t=", &sent) &&
	    !from_is(el, len, c->jid))
		delivered(r, c, sent);
}

/* pep: an item's notification (XEP-0163), at the publisher's own session
 * and at each contact's.  One stamped before this run began (the clock is
 * CLOCK_MONOTONIC, the machine's) is the node's last item from an earlier
 * run, which the server sends when a session's caps are known: not a
 * delivery of this run. */
static void event_received(struct bench_run *r, struct bench_conn *c, const char *el,
			   size_t len)
{
	uint64_t sent;
	if (!item_stamp(el, len, &sent))
		r->msgs_bad++;
	else if (sent < r->t0)
		r->pep_last++;
	else
		delivered(r, c, sent);
}

/* The answer to a publish: a result tells nothing the notifications do
 * not; an error means deliveries that will never come, so it is counted
 * (and the first one shown). */
static void publish_answered(struct bench_run *r, struct bench_conn *c, const char *el,
			     size_t len)
{
	if (is_result(el, len))
		return;
	if (!r->pub_errors++)
		log_warn("conn %u: publish refused: %.*s", c->idx, (int)(len > 300 ? 300 : len),
			 el);
}

/* XEP-0199 §4.2: the server answers a result (or an error if it does not
 * support ping). */
static void pong_received(struct bench_run *r, struct bench_conn *c, const char *el, size_t len)
{
	if (!c->pinged)
		return;
	c->pinged = 0;
	if (!is_result(el, len)) {
		r->ping_errors++;
		return;
	}
	r->pongs++;
	uint64_t now = bench_now();
	hist_record(&r->ping_lat, now > c->next_send_ns ? now - c->next_send_ns : 0);
}

int xmpp_attr(const char *el, size_t len, const char *name, char *out, size_t cap, char *q)
{
	char pat[32];
	snprintf(pat, sizeof pat, " %s=", name);
	const char *gt = memchr(el, '>', len);
	const char *a = gt ? memmem(el, (size_t)(gt - el), pat, strlen(pat)) : NULL;
	if (!a)
		return 0;
	const char *v = a + strlen(pat) + 1, *end = v < gt ? memchr(v, a[strlen(pat)], (size_t)(gt - v)) : NULL;
	if (!end || (size_t)(end - v) >= cap)
		return 0;
	*q = a[strlen(pat)];
	memcpy(out, v, (size_t)(end - v));
	out[end - v] = 0;
	return 1;
}

/* --faults: the number in the id (m<k>) decides; a bounce (RFC 6120
 * §8.3: the stanza back with type='error', id kept) comes to the sender,
 * and a message from offline storage carries XEP-0203 <delay/>.  Order is
 * not checked: a message routed again after a fault overtakes nothing. */
static void fault_message(struct bench_run *r, struct bench_conn *c, const char *el,
			  size_t len)
{
	char id[32], type[16], q, *end;
	if (!xmpp_attr(el, len, "id", id, sizeof id, &q) || id[0] != 'm' || !id[1]) {
		r->msgs_bad++;
		return;
	}
	uint64_t k = strtoull(id + 1, &end, 10), sent;
	enum fault_fate fate = FATE_LIVE;
	if (xmpp_attr(el, len, "type", type, sizeof type, &q) && !strcmp(type, "error"))
		fate = FATE_BOUNCED;
	else if (has(el, len, "urn:xmpp:delay"))
		fate = FATE_OFFLINE;
	int first = *end ? -1 : faults_arrived(r, c, k, fate);
	if (first < 0)
		r->msgs_bad++;
	else if (first && fate == FATE_LIVE && stamp_of(el, len, "<body>t=", &sent))
		latency(r, sent);
}

/* XEP-0199 §4.1: a server checking that we are alive; a client that does
 * not answer is cut after the server's ping timeout (Starling: idle_timeout
 * + ping_timeout), as a real one would be. */
static void ping_answer(struct bench_run *r, struct bench_conn *c, const char *el, size_t len)
{
	char id[128], from[256], qi, qf, iq[512];
	if (!xmpp_attr(el, len, "id", id, sizeof id, &qi))
		return;
	if (xmpp_attr(el, len, "from", from, sizeof from, &qf))
		snprintf(iq, sizeof iq, "<iq type='result' id=%c%s%c to=%c%s%c/>", qi, id, qi, qf,
			 from, qf);
	else
		snprintf(iq, sizeof iq, "<iq type='result' id=%c%s%c/>", qi, id, qi);
	faults_stanza_out(c);
	send_str(r, c, iq);
}

static int is_get(const char *el, size_t len)
{
	return has(el, len, "type='get'") || has(el, len, "type=\"get\"");
}

/* XEP-0030 §3.1: the bench's identity and features (CAPS_DISCO) to whoever
 * asks; a server checking a ver asks with node#ver, which goes back as it
 * came.  Attribute values are echoed still escaped, in their own quotes. */
static void disco_answer(struct bench_run *r, struct bench_conn *c, const char *el, size_t len)
{
	char id[128], v[320], to[336] = "", node[336] = "", qi, q, *iq;
	const char *query = find_tag(el, len, "<query", 6);
	if (!xmpp_attr(el, len, "id", id, sizeof id, &qi))
		return;
	if (xmpp_attr(el, len, "from", v, sizeof v, &q))
		snprintf(to, sizeof to, " to=%c%s%c", q, v, q);
	if (query && xmpp_attr(query, len - (size_t)(query - el), "node", v, sizeof v, &q))
		snprintf(node, sizeof node, " node=%c%s%c", q, v, q);
	if (asprintf(&iq, "<iq type='result' id=%c%s%c%s><query xmlns='" NS_DISCO_INFO "'%s>"
		     CAPS_DISCO "</query></iq>", qi, id, qi, to, node) < 0)
		return;
	if (!send_str(r, c, iq))
		r->disco_answers++;
	free(iq);
}

/* A publish's answer: its id is pub<k> (xmpp_send_publish). */
static int is_publish_answer(const char *el, size_t len)
{
	char id[32], q;
	return xmpp_attr(el, len, "id", id, sizeof id, &q) && !strncmp(id, "pub", 3);
}

static int online_element(struct bench_run *r, struct bench_conn *c, const char *el,
			  size_t len)
{
	int pep = r->opt.scenario == BENCH_PEP;
	if (r->opt.faults) {
		if (faults_nonza(r, c, el, len))
			return XS_CB_CONTINUE;
		if (starts(el, len, "<message") || starts(el, len, "<presence") ||
		    starts(el, len, "<iq"))
			faults_stanza_in(c); /* XEP-0198 counts every stanza */
	}
	if (starts(el, len, "<iq") && has(el, len, NS_PING) && is_get(el, len)) {
		ping_answer(r, c, el, len);
		return XS_CB_CONTINUE;
	}
	if (pep && starts(el, len, "<iq") && has(el, len, NS_DISCO_INFO) && is_get(el, len)) {
		disco_answer(r, c, el, len);
		return XS_CB_CONTINUE;
	}
	if (starts(el, len, "<message") && r->opt.faults)
		fault_message(r, c, el, len);
	else if (starts(el, len, "<message") && pep)
		event_received(r, c, el, len);
	else if (starts(el, len, "<message"))
		message_received(r, c, el, len);
	else if (starts(el, len, "<presence"))
		presence_received(r, c, el, len);
	else if (starts(el, len, "<iq") && has_id(el, len, "ping1"))
		pong_received(r, c, el, len);
	else if (pep && starts(el, len, "<iq") && is_publish_answer(el, len))
		publish_answered(r, c, el, len);
	/* roster pushes, with --sasl2 and --no-roster the stream's features
	 * after <success/> (XEP-0388 §2.6.1), and the like: not measured */
	return XS_CB_CONTINUE;
}

static int on_element(struct bench_run *r, struct bench_conn *c, const char *el, size_t len)
{
	if (starts(el, len, "<stream:error")) {
		xmpp_fail(r, c, FAIL_STREAM_ERR, "stream error");
		return XS_CB_STOP;
	}
	switch (c->state) {
	case CS_FEATURES_TLS:
		if (!starts(el, len, "<stream:features") || !has(el, len, "<starttls"))
			break;
		c->state = CS_STARTTLS;
		return send_str(r, c, "<starttls xmlns='" NS_TLS "'/>") ? XS_CB_STOP : XS_CB_CONTINUE;
	case CS_STARTTLS:
		if (!starts(el, len, "<proceed"))
			break;
		c->start_tls = 1; /* RFC 6120 §5.4.3.3: the next byte is TLS */
		return XS_CB_STOP;
	case CS_FEATURES_SASL:
		if (!starts(el, len, "<stream:features"))
			break;
		return sasl_start(r, c, el, len) ? XS_CB_STOP : XS_CB_CONTINUE;
	case CS_AUTH:
		if (starts(el, len, "<challenge"))
			return sasl_challenge(r, c, el, len, "<response xmlns='" NS_SASL "'>")
				       ? XS_CB_STOP
				       : XS_CB_CONTINUE;
		if (starts(el, len, "<success"))
			return sasl_success(r, c, el, len) ? XS_CB_STOP : XS_CB_RESTART;
		if (starts(el, len, "<failure")) {
			xmpp_fail(r, c, FAIL_AUTH, "SASL failure");
			return XS_CB_STOP;
		}
		break;
	case CS_AUTH2: /* XEP-0388 §2.5, §2.6 */
		if (starts(el, len, "<challenge"))
			return sasl_challenge(r, c, el, len, "<response xmlns='" NS_SASL2 "'>")
				       ? XS_CB_STOP
				       : XS_CB_CONTINUE;
		if (starts(el, len, "<success")) /* no restart: the stream goes on */
			return sasl2_success(r, c, el, len) ? XS_CB_STOP : XS_CB_CONTINUE;
		if (starts(el, len, "<failure")) {
			xmpp_fail(r, c, FAIL_AUTH, "SASL failure");
			return XS_CB_STOP;
		}
		if (starts(el, len, "<continue")) { /* §2.6.3: tasks, the bench knows none */
			xmpp_fail(r, c, FAIL_AUTH, "SASL2 <continue/>");
			return XS_CB_STOP;
		}
		break;
	case CS_FEATURES_BIND:
		if (!starts(el, len, "<stream:features") || !has(el, len, "<bind"))
			break;
		return send_bind(r, c) ? XS_CB_STOP : XS_CB_CONTINUE;
	case CS_BIND:
		if (!starts(el, len, "<iq") || !has_id(el, len, "bind1"))
			break;
		if (!is_result(el, len)) {
			xmpp_fail(r, c, FAIL_BIND, "bind error");
			return XS_CB_STOP;
		}
		bound(r, c, el, len);
		return c->state == CS_DEAD ? XS_CB_STOP : XS_CB_CONTINUE;
	case CS_ROSTER:
		if (starts(el, len, "<presence") || starts(el, len, "<message"))
			return XS_CB_CONTINUE; /* subscription requests, offline messages */
		if (r->opt.sasl2 && starts(el, len, "<stream:features"))
			return XS_CB_CONTINUE; /* XEP-0388 §2.6.1: those after <success/> */
		if (!starts(el, len, "<iq") || !has_id(el, len, "roster1"))
			break;
		if (!is_result(el, len)) {
			xmpp_fail(r, c, FAIL_ROSTER, "roster error");
			return XS_CB_STOP;
		}
		logged_in(r, c);
		return c->state == CS_DEAD ? XS_CB_STOP : XS_CB_CONTINUE;
	case CS_ONLINE:
		return online_element(r, c, el, len);
	default:
		break;
	}
	log_debug("conn %u: unexpected in state %u: %.*s", c->idx, c->state,
		  (int)(len > 200 ? 200 : len), el);
	xmpp_fail(r, c, FAIL_PROTOCOL, "unexpected element");
	return XS_CB_STOP;
}

struct feed_ctx {
	struct bench_run *r;
	struct bench_conn *c;
};

static int on_event(void *arg, enum xs_event ev, const char *bytes, size_t len)
{
	struct feed_ctx *f = arg;
	if (f->c->state == CS_DEAD)
		return XS_CB_STOP;
	if (ev == XS_STREAM_OPEN)
		return XS_CB_CONTINUE;
	if (ev == XS_STREAM_CLOSE) {
		xmpp_fail(f->r, f->c, FAIL_CLOSED, "stream closed");
		return XS_CB_STOP;
	}
	return on_element(f->r, f->c, bytes, len);
}

/* Once online, a server's read holds whole stanzas (a TLS record each, as
 * a rule): they are taken off the front by the quick cut (cut.c) and
 * handled as xstream would hand them; the framer reads whatever is left.
 * Returns the bytes taken. */
static size_t quick_elements(struct bench_run *r, struct bench_conn *c, const char *data,
			     size_t len)
{
	size_t done = 0, n;
	while (c->state == CS_ONLINE && xs_between(&c->xs) &&
	       (n = cut_element(data + done, len - done))) {
		int rc = on_element(r, c, data + done, n);
		done += n;
		if (rc != XS_CB_CONTINUE)
			break; /* online, only a failed connection stops */
	}
	return done;
}

static int feed_plain(struct bench_run *r, struct bench_conn *c, const char *data, size_t len)
{
	struct feed_ctx f = { r, c };
	size_t quick = quick_elements(r, c, data, len);
	if (c->state == CS_DEAD)
		return -EPROTO;
	int rc = xs_feed(&c->xs, data + quick, len - quick, on_event, &f);
	if (c->state == CS_DEAD)
		return -EPROTO;
	if (rc == XS_ERR_STOPPED && c->start_tls) {
		c->start_tls = 0;
		xs_reset(&c->xs);
		return start_tls(r, c);
	}
	if (rc) {
		xmpp_fail(r, c, FAIL_PROTOCOL, "framing error");
		return -EPROTO;
	}
	return 0;
}

static int deliver_plain(void *arg, const char *data, size_t len)
{
	struct feed_ctx *f = arg;
	return feed_plain(f->r, f->c, data, len);
}

static int tls_failed(struct bench_run *r, struct bench_conn *c, int rc, const char *what)
{
	xmpp_fail(r, c, rc == -ECONNRESET ? FAIL_CLOSED : FAIL_TLS, what);
	return rc;
}

/* The handshake is done: hand a TLS 1.3 connection to tls/record and free
 * its SSL object (about 17 KB), unless told to keep OpenSSL. */
static int take_over(struct bench_run *r, struct bench_conn *c)
{
	if (r->opt.openssl_records)
		return 0;
	int rc = rec_start(&c->rec, c->ssl);
	if (rc == -EPROTONOSUPPORT)
		return 0; /* TLS 1.2 or an unknown suite: OpenSSL keeps the records */
	if (rc)
		return tls_failed(r, c, rc, "traffic secrets not captured");
	SSL_free(c->ssl);
	c->ssl = NULL;
	r->tls_lean++;
	return 0;
}

static int feed_tls(struct bench_run *r, struct bench_conn *c, const char *data, size_t len)
{
	static _Thread_local char plain[PLAIN_CAP]; /* shared by a thread's connections */
	if (c->rec.suite) {
		struct feed_ctx f = { r, c };
		int rc = rec_read(&c->rec, (const uint8_t *)data, len, &c->out, deliver_plain, &f);
		return rc && c->state != CS_DEAD ? tls_failed(r, c, rc, "TLS record") : rc;
	}
	c->io.in = (const uint8_t *)data;
	c->io.in_len = len;
	if (c->state == CS_HANDSHAKE) {
		/* Stop at the end of the handshake, so that OpenSSL reads no record
		 * under the application keys the record layer takes over. */
		int rc = tls_handshake(c->ssl);
		if (rc <= 0)
			return rc ? tls_failed(r, c, rc, "handshake") : 0;
		if (take_over(r, c))
			return -EPROTO;
		c->state = CS_FEATURES_SASL;
		if (send_header(r, c))
			return -EPROTO;
		return c->io.in_len ? feed_tls(r, c, (const char *)c->io.in, c->io.in_len) : 0;
	}
	for (;;) {
		int n = tls_read(c->ssl, plain, sizeof plain);
		if (n == 0)
			break;
		if (n < 0)
			return tls_failed(r, c, n, "tls_read");
		if (feed_plain(r, c, plain, (size_t)n))
			return -EPROTO;
	}
	return 0;
}

static int tls_on(const struct bench_conn *c) { return c->ssl || c->rec.suite; }

int xmpp_input(struct bench_run *r, struct bench_conn *c, const char *data, size_t len)
{
	if (c->state == CS_DEAD)
		return -EPIPE;
	return tls_on(c) ? feed_tls(r, c, data, len) : feed_plain(r, c, data, len);
}

static char *put(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

#define PUT_LIT(p, lit) put(p, lit, sizeof lit - 1)
#define U64_DIGITS 20

static char *put_u64(char *p, uint64_t v)
{
	char d[U64_DIGITS];
	size_t i = sizeof d;
	do
		d[--i] = (char)('0' + v % 10);
	while (v /= 10);
	return put(p, d + i, sizeof d - i);
}

/* Built with memcpy() rather than snprintf(), which cost more than all of
 * the bench's own work on a message; the bytes are the same. */
int xmpp_send_chat(struct bench_run *r, struct bench_conn *from, const char *to, uint64_t k,
		   uint64_t intended_ns)
{
	char m[512 + 2 * U64_DIGITS + 64], *p = m;
	size_t tl = strlen(to);
	if (tl < 512) {
		p = PUT_LIT(p, "<message to='");
		p = put(p, to, tl);
		p = PUT_LIT(p, "' type='chat' id='m");
		p = put_u64(p, k);
		p = PUT_LIT(p, "'><body>t=");
		p = put_u64(p, intended_ns);
		p = PUT_LIT(p, "</body></message>");
	}
	if (p == m || p - m >= 512) {
		xmpp_fail(r, from, FAIL_PROTOCOL, "JID too long");
		return -ENAMETOOLONG;
	}
	return send_n(r, from, m, (size_t)(p - m));
}

int xmpp_send_presence(struct bench_run *r, struct bench_conn *c, uint64_t intended_ns)
{
	char m[64 + U64_DIGITS], *p = PUT_LIT(m, "<presence><status>t=");
	p = put_u64(p, intended_ns);
	p = PUT_LIT(p, "</status></presence>");
	return send_n(r, c, m, (size_t)(p - m));
}

/* XEP-0163 §3: to one's own PEP service (no 'to'), the node created on the
 * first publish.  The item id is 'current', as singleton nodes (tune, mood,
 * nick) have it: the node keeps one item whatever its max_items.  The
 * iq's id is pub<k>, k counted per session. */
#define PUBLISH_HEAD                                                                \
	"' type='set'><pubsub xmlns='" NS_PUBSUB "'><publish node='" PEP_NODE      \
	"'><item id='current'><stamp xmlns='" PEP_NODE "'>t="
#define PUBLISH_TAIL "</stamp></item></publish></pubsub></iq>"

int xmpp_send_publish(struct bench_run *r, struct bench_conn *c, uint64_t intended_ns)
{
	char m[sizeof "<iq id='pub" + sizeof PUBLISH_HEAD + sizeof PUBLISH_TAIL + 2 * U64_DIGITS];
	char *p = PUT_LIT(m, "<iq id='pub");
	p = put_u64(p, c->seq++);
	p = PUT_LIT(p, PUBLISH_HEAD);
	p = put_u64(p, intended_ns);
	p = PUT_LIT(p, PUBLISH_TAIL);
	return send_n(r, c, m, (size_t)(p - m));
}

int xmpp_send_ping(struct bench_run *r, struct bench_conn *c)
{
	char iq[320];
	int n = snprintf(iq, sizeof iq, "<iq type='get' id='ping1' to='%s'><ping xmlns='" NS_PING
			 "'/></iq>", r->opt.domain);
	if (n < 0 || (size_t)n >= sizeof iq)
		return -ENAMETOOLONG;
	return send_str(r, c, iq);
}

void xmpp_close(struct bench_conn *c)
{
	if (c->state != CS_ONLINE)
		return;
	static const char end[] = "</stream:stream>";
	if (c->rec.suite) {
		if (!rec_write(&c->rec, end, sizeof end - 1, &c->out))
			rec_close(&c->rec, &c->out);
	} else if (c->ssl) {
		if (!tls_write(c->ssl, end, sizeof end - 1))
			tls_shutdown(c->ssl);
	} else if (buf_append(&c->out, end, sizeof end - 1)) {
		return; /* out of memory: the socket close ends the stream anyway */
	}
}

void xmpp_free(struct bench_conn *c)
{
	if (c->ssl)
		SSL_free(c->ssl);
	c->ssl = NULL;
	rec_free(&c->rec);
	scram_client_free(&c->scram);
	memset(&c->scram, 0, sizeof c->scram);
	buf_free(&c->out);
	xs_free(&c->xs);
	free(c->jid);
	c->jid = NULL;
}
