/* sasl_client: a real XMPP client for SASL tests that Python's ssl cannot
 * write (it exports no keying material).  Connects with OpenSSL (TLS 1.2 or
 * 1.3, STARTTLS or direct TLS), reads the stream features, runs one SASL
 * exchange and prints what happened, one "key=value" line each:
 *
 *   tls=TLSv1.3 (none with --no-tls)  mechanisms=A,B  cbind=x,y (or "cbind=" without XEP-0440)
 *   ssdp=ok|mismatch|absent   (XEP-0474 h= against the features seen)
 *   result=success|failure:<condition>   verify=ok|bad (server signature)
 *   key_update=sent (--key-update: two KeyUpdates went out before the SASL exchange)
 *   corrupt=closed (--corrupt: a record with a bad tag ended the connection)
 *
 * Exit 0 when the run reached a result, 1 on a connection or protocol error,
 * 2 on bad usage.  Blocking sockets: this is a test tool, not the bench. */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/scram.h"

#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define MAX_LIST 16

struct opts {
	const char *host, *port, *domain, *user, *password, *mech, *cb, *flag, *cert, *key;
	const char *authzid; /* EXTERNAL */
	const char *drop; /* a mechanism a pretend MITM hid from us (XEP-0474 test) */
	int tls_version;  /* 12, 13 or 0 for either */
	int direct, tamper, features_only, no_tls, key_update, corrupt;
};

struct client {
	int fd;
	SSL *ssl;
	char buf[65536];
	size_t len;
	char *mechs[MAX_LIST], *cbs[MAX_LIST];
	size_t nmechs, ncbs;
	int have_cb_feature;
};

static void die(const char *what)
{
	fprintf(stderr, "sasl_client: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static int tcp_connect(const char *host, const char *port)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
	if (getaddrinfo(host, port, &hints, &ai))
		die("cannot resolve");
	int fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen))
		die("cannot connect");
	freeaddrinfo(ai);
	return fd;
}

static void send_str(struct client *c, const char *s)
{
	size_t n = strlen(s);
	if (c->ssl ? SSL_write(c->ssl, s, (int)n) != (int)n : write(c->fd, s, n) != (ssize_t)n)
		die("write failed");
}

/* Read until one of the needles appears; returns the end of the first one
 * found (the buffer keeps everything read so far). */
static char *read_until(struct client *c, const char *const *needles)
{
	for (;;) {
		c->buf[c->len] = 0;
		for (const char *const *n = needles; *n; n++) {
			char *p = strstr(c->buf, *n);
			if (p)
				return p + strlen(*n);
		}
		if (strstr(c->buf, "</stream:stream>") || c->len + 1 >= sizeof c->buf)
			die(c->buf);
		int r = c->ssl ? SSL_read(c->ssl, c->buf + c->len, (int)(sizeof c->buf - 1 - c->len))
			       : (int)read(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len);
		if (r <= 0)
			die("connection closed");
		c->len += (size_t)r;
	}
}

static void consume(struct client *c, const char *upto)
{
	size_t n = (size_t)(upto - c->buf);
	memmove(c->buf, upto, c->len - n);
	c->len -= n;
}

/* Every value between open and close in [p, end). */
static size_t collect(const char *p, const char *end, const char *open, const char *close,
		      char **out)
{
	size_t n = 0;
	while (n < MAX_LIST && (p = strstr(p, open)) && p < end) {
		p += strlen(open);
		const char *q = strstr(p, close);
		if (!q || q > end)
			break;
		out[n++] = strndup(p, (size_t)(q - p));
		p = q;
	}
	return n;
}

static void read_features(struct client *c, const struct opts *o)
{
	char hdr[256];
	snprintf(hdr, sizeof hdr,
		 "<?xml version='1.0'?><stream:stream to='%s' xmlns='jabber:client' "
		 "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>",
		 o->domain);
	send_str(c, hdr);
	static const char *const end[] = {"</stream:features>", NULL};
	char *e = read_until(c, end);
	const char *f = strstr(c->buf, "<stream:features");
	for (size_t i = 0; i < c->nmechs; i++)
		free(c->mechs[i]);
	for (size_t i = 0; i < c->ncbs; i++)
		free(c->cbs[i]);
	/* RFC 6120's list only: SASL2's <authentication/> (XEP-0388) repeats
	 * the names, and XEP-0474's hash covers one list. */
	const char *ms = strstr(f, "<mechanisms"), *me = ms ? strstr(ms, "</mechanisms>") : NULL;
	c->nmechs = ms && me && me < e ? collect(ms, me, "<mechanism>", "</mechanism>", c->mechs) : 0;
	c->ncbs = collect(f, e, "<channel-binding type='", "'", c->cbs);
	c->have_cb_feature = strstr(f, "<sasl-channel-binding") != NULL;
	consume(c, e);
}

static void start_tls(struct client *c, const struct opts *o)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		die("SSL_CTX_new");
	int v = o->tls_version == 12 ? TLS1_2_VERSION : TLS1_3_VERSION;
	SSL_CTX_set_min_proto_version(ctx, o->tls_version ? v : TLS1_2_VERSION);
	SSL_CTX_set_max_proto_version(ctx, o->tls_version ? v : TLS1_3_VERSION);
	if (o->cert && (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1 ||
			SSL_CTX_use_PrivateKey_file(ctx, o->key ? o->key : o->cert,
						    SSL_FILETYPE_PEM) != 1))
		die("cannot load the client certificate");
	c->ssl = SSL_new(ctx);
	SSL_CTX_free(ctx); /* c->ssl holds a reference */
	if (!c->ssl || !SSL_set_fd(c->ssl, c->fd) ||
	    !SSL_set_tlsext_host_name(c->ssl, o->domain) || SSL_connect(c->ssl) != 1)
		die("TLS handshake failed");
	printf("tls=%s\n", SSL_get_version(c->ssl));
}

static void starttls(struct client *c, const struct opts *o)
{
	static const char *const proceed[] = {"<proceed", NULL};
	static const char *const gt[] = {"/>", NULL};
	send_str(c, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
	read_until(c, proceed);
	consume(c, read_until(c, gt));
	start_tls(c, o);
	c->len = 0;
}

static void print_list(const char *key, char **v, size_t n)
{
	printf("%s=", key);
	for (size_t i = 0; i < n; i++)
		printf("%s%s", i ? "," : "", v[i]);
	printf("\n");
}

/* The payload of the next <challenge/>, <success/> or <failure/>: returns
 * 'c', 's' or 'f'; *text is the base64 text (c, s) or the condition (f),
 * malloc'd. */
static int sasl_reply(struct client *c, char **text)
{
	static const char *const end[] = {"</challenge>", "</success>", "</failure>", "'/>", NULL};
	char *e = read_until(c, end);
	const char *el = strstr(c->buf, "<challenge");
	int kind = 'c';
	if (!el || el > e)
		el = strstr(c->buf, "<success"), kind = 's';
	if (!el || el > e)
		el = strstr(c->buf, "<failure"), kind = 'f';
	if (!el || el > e)
		die("unexpected SASL reply");
	const char *body = strchr(el, '>') + 1;
	if (kind == 'f') {
		const char *cond = strchr(body, '<') + 1;
		*text = strndup(cond, strcspn(cond, "/> "));
	} else {
		*text = body[-2] == '/' ? strdup("") : strndup(body, strcspn(body, "<"));
	}
	consume(c, e);
	return kind;
}

static char *b64(const char *s, size_t n)
{
	char *r = base64_encode((const uint8_t *)s, n);
	if (!r)
		die("base64");
	return r;
}

static char *unb64(const char *s, size_t *n)
{
	uint8_t *d = base64_decode(s, strlen(s), n);
	if (!d)
		die("bad base64 from the server");
	char *r = realloc(d, *n + 1);
	r[*n] = 0;
	return r;
}

static void send_sasl(struct client *c, const char *el, const char *mech, const char *payload)
{
	char *p = b64(payload, strlen(payload));
	size_t n = strlen(p) + 200;
	char *x = malloc(n);
	if (mech)
		snprintf(x, n, "<%s xmlns='" NS_SASL "' mechanism='%s'>%s</%s>", el, mech,
			 *p ? p : "=", el);
	else
		snprintf(x, n, "<%s xmlns='" NS_SASL "'>%s</%s>", el, *p ? p : "=", el);
	send_str(c, x);
	free(x);
	free(p);
}

/* XEP-0474 §4.2: our own hash of what we saw, against h=. */
static void check_ssdp(struct client *c, const struct opts *o, enum scram_hash h,
		       const char *server_first)
{
	const char *h_attr = strstr(server_first, ",h=");
	if (!h_attr) {
		printf("ssdp=absent\n");
		return;
	}
	h_attr += 3;
	const char *seen[MAX_LIST];
	size_t n = 0;
	for (size_t i = 0; i < c->nmechs; i++)
		if (!o->drop || strcmp(o->drop, c->mechs[i]))
			seen[n++] = c->mechs[i];
	char *mine;
	if (scram_ssdp_hash(h, seen, n, c->have_cb_feature ? (const char *const *)c->cbs : NULL,
			    c->ncbs, &mine))
		die("ssdp hash");
	printf("ssdp=%s\n", strncmp(mine, h_attr, strcspn(h_attr, ",")) ||
					    strlen(mine) != strcspn(h_attr, ",")
				    ? "mismatch"
				    : "ok");
	free(mine);
}

/* The gs2 flag and the channel-binding data this run sends. */
static const char *cbind_for(struct client *c, const struct opts *o, int plus, uint8_t *data,
			     size_t *len, char *flag, size_t flen)
{
	*len = 0;
	const char *f = o->flag ? o->flag : plus ? "p" : "n";
	if (strcmp(f, "p")) {
		snprintf(flag, flen, "%s", f);
		return flag;
	}
	const char *type = o->cb ? o->cb : "tls-exporter";
	snprintf(flag, flen, "p=%s", type);
	/* Computed here from the RFCs, not with tls/cbind.c, so that the
	 * server's extraction is checked against an independent one. */
	if (!strcmp(type, "tls-exporter")) {
		/* RFC 9266 §2 (under TLS 1.2 it is what a client ignoring §3 sends). */
		if (SSL_export_keying_material(c->ssl, data, 32, "EXPORTER-Channel-Binding", 24,
					       NULL, 0, 0) != 1)
			die("SSL_export_keying_material");
		*len = 32;
	} else if (!strcmp(type, "tls-server-end-point")) {
		/* RFC 5929 §4.1; the test certificates are signed with SHA-256. */
		unsigned int n = 0;
		X509 *cert = SSL_get0_peer_certificate(c->ssl);
		if (!cert || !X509_digest(cert, EVP_sha256(), data, &n))
			die("no server certificate");
		*len = n;
	} else { /* a type nobody computes: send something */
		memset(data, 'x', *len = 32);
	}
	if (o->tamper)
		data[0] ^= 1;
	return flag;
}

static int run_scram(struct client *c, const struct opts *o)
{
	int plus = strstr(o->mech, "-PLUS") != NULL;
	enum scram_hash h = strncmp(o->mech, "SCRAM-SHA-1", 11) ? SCRAM_SHA256 : SCRAM_SHA1;
	uint8_t data[EVP_MAX_MD_SIZE];
	size_t len;
	char flag[64], *text;
	struct scram_client sc;
	cbind_for(c, o, plus, data, &len, flag, sizeof flag);
	char *first = scram_client_first_cb(&sc, h, o->user, o->password, NULL, flag, data, len);
	if (!first)
		die("scram_client_first_cb");
	send_sasl(c, "auth", o->mech, first);
	free(first);
	int k = sasl_reply(c, &text);
	if (k == 'c') {
		size_t n;
		char *sf = unb64(text, &n);
		check_ssdp(c, o, h, sf);
		char *fin = scram_client_final(&sc, sf, n);
		if (!fin)
			die("bad server-first-message");
		send_sasl(c, "response", NULL, fin);
		free(fin);
		free(sf);
		free(text);
		k = sasl_reply(c, &text);
	}
	if (k == 's') {
		size_t n;
		char *v = unb64(text, &n);
		printf("result=success\nverify=%s\n", scram_client_verify(&sc, v, n) ? "bad" : "ok");
		free(v);
	} else {
		printf("result=failure:%s\n", k == 'f' ? text : "unexpected-challenge");
	}
	free(text);
	scram_client_free(&sc);
	return 0;
}

/* XEP-0178: EXTERNAL with the identity of the client certificate; the
 * authzid (--authzid, if given) goes as the initial response, else "=". */
static int run_external(struct client *c, const struct opts *o)
{
	char *text;
	send_sasl(c, "auth", "EXTERNAL", o->authzid ? o->authzid : "");
	int k = sasl_reply(c, &text);
	printf("result=%s%s\n", k == 's' ? "success" : "failure:", k == 's' ? "" : text);
	free(text);
	return 0;
}

/* RFC 8446 §4.6.3: a KeyUpdate asking for the server's, then one not
 * asking, each carried out by a whitespace keepalive (RFC 6120 §4.6.1); the
 * SASL exchange that follows runs under the new keys. */
static void key_update(struct client *c)
{
	static const int types[] = {SSL_KEY_UPDATE_REQUESTED, SSL_KEY_UPDATE_NOT_REQUESTED};
	for (int i = 0; i < 2; i++) {
		if (SSL_key_update(c->ssl, types[i]) != 1)
			die("SSL_key_update");
		send_str(c, " ");
		if (SSL_get_key_update_type(c->ssl) != SSL_KEY_UPDATE_NONE)
			die("KeyUpdate not sent");
	}
	printf("key_update=sent\n");
}

/* A record under the right type and length whose tag cannot verify, written
 * past OpenSSL: the server must end the connection (RFC 8446 §5.2). */
static void corrupt(struct client *c)
{
	uint8_t rec[5 + 64] = {23, 3, 3, 0, 64};
	memset(rec + 5, 0x5a, 64);
	if (write(c->fd, rec, sizeof rec) != (ssize_t)sizeof rec)
		die("write failed");
	char b[256];
	int r;
	while ((r = SSL_read(c->ssl, b, sizeof b)) > 0)
		;
	printf("corrupt=closed\n");
}

static void usage(void)
{
	fprintf(stderr, "usage: sasl_client --port P [--host H] [--domain D] [--direct] "
			"[--tls 12|13] [--mech M] [--user U --password PW] [--cb TYPE] "
			"[--flag n|y|p] [--tamper] [--drop MECH] [--cert PEM [--key PEM]] "
			"[--features-only] [--no-tls] [--key-update] [--corrupt]\n");
	exit(2);
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
	    {"host", 1, 0, 'H'}, {"port", 1, 0, 'P'},	  {"domain", 1, 0, 'd'},
	    {"user", 1, 0, 'u'}, {"password", 1, 0, 'w'}, {"mech", 1, 0, 'm'},
	    {"cb", 1, 0, 'c'},	 {"flag", 1, 0, 'f'},	  {"tls", 1, 0, 't'},
	    {"direct", 0, 0, 'D'}, {"tamper", 0, 0, 'T'}, {"drop", 1, 0, 'x'},
	    {"cert", 1, 0, 'C'}, {"key", 1, 0, 'K'},	  {"features-only", 0, 0, 'F'},
	    {"no-tls", 0, 0, 'N'}, {"authzid", 1, 0, 'a'}, {"key-update", 0, 0, 'U'},
	    {"corrupt", 0, 0, 'X'},
	    {0, 0, 0, 0}};
	int ch;
	*o = (struct opts){.host = "127.0.0.1", .domain = "localhost", .mech = "SCRAM-SHA-256-PLUS"};
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'H': o->host = optarg; break;
		case 'P': o->port = optarg; break;
		case 'd': o->domain = optarg; break;
		case 'u': o->user = optarg; break;
		case 'w': o->password = optarg; break;
		case 'm': o->mech = optarg; break;
		case 'c': o->cb = optarg; break;
		case 'f': o->flag = optarg; break;
		case 't': o->tls_version = atoi(optarg); break;
		case 'D': o->direct = 1; break;
		case 'T': o->tamper = 1; break;
		case 'x': o->drop = optarg; break;
		case 'C': o->cert = optarg; break;
		case 'K': o->key = optarg; break;
		case 'F': o->features_only = 1; break;
		case 'N': o->no_tls = 1; break;
		case 'a': o->authzid = optarg; break;
		case 'U': o->key_update = 1; break;
		case 'X': o->corrupt = 1; break;
		default: usage();
		}
	}
	if (!o->port || (o->tls_version && o->tls_version != 12 && o->tls_version != 13))
		usage();
}

int main(int argc, char **argv)
{
	struct opts o;
	static struct client c;
	parse_opts(argc, argv, &o);
	c.fd = tcp_connect(o.host, o.port);
	if (o.direct)
		start_tls(&c, &o);
	read_features(&c, &o);
	if (!o.direct && !o.no_tls) {
		starttls(&c, &o);
		read_features(&c, &o);
	}
	print_list("mechanisms", c.mechs, c.nmechs);
	print_list("cbind", c.cbs, c.ncbs);
	int rc = 0;
	if (o.key_update && c.ssl)
		key_update(&c);
	if (o.corrupt && c.ssl)
		corrupt(&c);
	else if (o.features_only)
		;
	else if (!strcmp(o.mech, "EXTERNAL"))
		rc = run_external(&c, &o);
	else if (!o.user || !o.password)
		usage();
	else
		rc = run_scram(&c, &o);
	fflush(stdout);
	SSL_free(c.ssl);
	close(c.fd);
	return rc;
}
