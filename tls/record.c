/* record: the TLS 1.3 record layer after the handshake (RFC 8446 §5, §7.3,
 * §4.6.3), for client connections whose OpenSSL object has been freed. */
#include "record.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum rec_suite { REC_AES_128_GCM = 1, REC_AES_256_GCM, REC_CHACHA20_POLY1305, REC_NSUITES };

enum { /* RFC 8446 §5.1 content types, §4 handshake types */
	CT_ALERT = 21, CT_HANDSHAKE = 22, CT_APPLICATION_DATA = 23,
	HT_NEW_SESSION_TICKET = 4, HT_KEY_UPDATE = 24,
};

#define REC_HDR 5
#define REC_TAG 16
#define REC_PLAIN_MAX 16384		   /* 2^14, §5.1 */
#define REC_CIPHER_MAX (REC_PLAIN_MAX + 256) /* §5.2 */

/* ---- process-wide algorithms, fetched once (an implicit fetch on every
 * init would cost a provider lookup per record) ---- */

static pthread_once_t rec_once = PTHREAD_ONCE_INIT;
static EVP_CIPHER *rec_ciphers[REC_NSUITES];
static EVP_MAC *rec_hmac;

static void rec_fetch(void)
{
	rec_ciphers[REC_AES_128_GCM] = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
	rec_ciphers[REC_AES_256_GCM] = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	rec_ciphers[REC_CHACHA20_POLY1305] = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
	rec_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

/* ---- per-thread keyed cipher contexts ----
 * A connection keeps keys (44 bytes a direction), never a context (1.2 KB):
 * idle sessions must stay small.  Keying a context costs about 2,000
 * instructions (OpenSSL 3.0 queries the key and IV lengths through
 * OSSL_PARAMs, then runs the key schedule), so each thread keeps the
 * contexts of the keys it used last, per direction: a two-way set-associative
 * cache addressed by the key itself.  A hit is the very same key and suite,
 * so a freed, re-keyed (KeyUpdate) or migrated connection can never meet a
 * context keyed for another; a record on a hit only sets its nonce. */

#define REC_SETS 64 /* x 2 ways: 128 contexts a direction and thread at most */

struct rec_slot {
	EVP_CIPHER_CTX *ctx; /* owned here, until rec_thread_done() */
	uint8_t suite;	     /* the cipher ctx is set up for; 0: none yet */
	uint8_t keyed;	     /* key[] is ctx's key */
	uint8_t key[32];
};

struct rec_cache {
	struct rec_slot way[REC_SETS][2];
	uint8_t next[REC_SETS]; /* the way to replace: the one used less recently */
};

static _Thread_local struct rec_cache rec_enc, rec_dec;
static _Thread_local uint8_t rec_plain[REC_CIPHER_MAX];
/* HMAC-SHA256 and HMAC-SHA384 for the key schedule; the last secret's padded
 * key stays in them, as the last keys stay in the cipher contexts. */
static _Thread_local EVP_MAC_CTX *rec_mac[2];

static void rec_cache_free(struct rec_cache *c)
{
	for (int i = 0; i < REC_SETS; i++)
		for (int w = 0; w < 2; w++)
			EVP_CIPHER_CTX_free(c->way[i][w].ctx);
	OPENSSL_cleanse(c, sizeof *c);
}

void rec_thread_done(void)
{
	rec_cache_free(&rec_enc);
	rec_cache_free(&rec_dec);
	EVP_MAC_CTX_free(rec_mac[0]);
	EVP_MAC_CTX_free(rec_mac[1]);
	rec_mac[0] = rec_mac[1] = NULL;
}

static size_t rec_key_len(unsigned suite) { return suite == REC_AES_128_GCM ? 16 : 32; }

/* Key a slot's context; on failure the slot is left unkeyed. */
static int rec_slot_key(struct rec_slot *s, unsigned suite, const uint8_t *key, int enc)
{
	size_t n = rec_key_len(suite);
	s->keyed = 0;
	if (!s->ctx && !(s->ctx = EVP_CIPHER_CTX_new()))
		return -ENOMEM;
	/* Passing the cipher again would rebuild the provider context. */
	const EVP_CIPHER *cipher = s->suite == suite ? NULL : rec_ciphers[suite];
	s->suite = 0;
	if (EVP_CipherInit_ex(s->ctx, cipher, NULL, key, NULL, enc) != 1)
		return -EPROTO;
	s->suite = (uint8_t)suite;
	memcpy(s->key, key, n);
	s->keyed = 1;
	return 0;
}

/* The slot keyed with d's key, keying the least recently used way of its set
 * on a miss.  The key is random, so its first bytes spread the sets. */
static struct rec_slot *rec_slot(struct rec_cache *c, unsigned suite, const struct rec_dir *d,
				 int enc)
{
	unsigned set = (d->key[0] | (unsigned)d->key[1] << 8) % REC_SETS;
	struct rec_slot *way = c->way[set];
	for (int w = 0; w < 2; w++)
		if (way[w].keyed && way[w].suite == suite &&
		    !memcmp(way[w].key, d->key, rec_key_len(suite))) {
			c->next[set] = (uint8_t)!w;
			return &way[w];
		}
	struct rec_slot *s = &way[c->next[set]];
	c->next[set] ^= 1;
	return rec_slot_key(s, suite, d->key, enc) ? NULL : s;
}

/* §5.3: the nonce is the IV XORed with the big-endian record number.  For
 * AES-GCM it is set as the whole "fixed" IV (the parameter that
 * EVP_CTRL_GCM_SET_IV_FIXED with length -1 becomes): unlike
 * EVP_CipherInit_ex, which queries the key and IV lengths through OSSL_PARAMs
 * on every call, that is one parameter.  ChaCha20-Poly1305 has no such
 * parameter for a whole nonce. */
static int rec_nonce(EVP_CIPHER_CTX *ctx, unsigned suite, const struct rec_dir *d, int enc)
{
	uint8_t nonce[12];
	memcpy(nonce, d->iv, sizeof nonce);
	for (int i = 0; i < 8; i++)
		nonce[11 - i] ^= (uint8_t)(d->seq >> (8 * i));
	if (suite == REC_CHACHA20_POLY1305)
		return EVP_CipherInit_ex(ctx, NULL, NULL, NULL, nonce, enc) == 1 ? 0 : -EPROTO;
	OSSL_PARAM p[] = {
		OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TLS1_IV_FIXED, nonce,
						  (size_t)-1),
		OSSL_PARAM_construct_end(),
	};
	return EVP_CIPHER_CTX_set_params(ctx, p) == 1 ? 0 : -EPROTO;
}

/* The slot whose context is ready for d's next record, or NULL.  A caller
 * whose record then fails clears the slot's keyed: the context's state is
 * unknown, and keying it afresh costs only that once. */
static struct rec_slot *rec_init(struct rec_cache *c, unsigned suite, const struct rec_dir *d,
				 int enc)
{
	struct rec_slot *s = rec_slot(c, suite, d, enc);
	if (s && rec_nonce(s->ctx, suite, d, enc)) {
		s->keyed = 0;
		return NULL;
	}
	return s;
}

/* The AEAD tag, read (seal) or set (open) as a parameter: EVP_CIPHER_CTX_ctrl
 * would translate the same request into one, at twice the cost. */
static int rec_tag(EVP_CIPHER_CTX *ctx, uint8_t *tag, int get)
{
	OSSL_PARAM p[] = {
		OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, REC_TAG),
		OSSL_PARAM_construct_end(),
	};
	return (get ? EVP_CIPHER_CTX_get_params(ctx, p) : EVP_CIPHER_CTX_set_params(ctx, p)) == 1;
}

/* ---- key schedule ---- */

/* This thread's HMAC context for the hash of hash_len bytes, keyed with
 * secret.  NULL on failure. */
static EVP_MAC_CTX *rec_mac_key(const uint8_t *secret, size_t hash_len)
{
	EVP_MAC_CTX **m = &rec_mac[hash_len == 48];
	if (!*m) {
		OSSL_PARAM p[] = {
			OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
							 hash_len == 48 ? "SHA384" : "SHA256", 0),
			OSSL_PARAM_construct_end(),
		};
		if (!(*m = EVP_MAC_CTX_new(rec_hmac)))
			return NULL;
		if (EVP_MAC_CTX_set_params(*m, p) != 1) {
			EVP_MAC_CTX_free(*m);
			return *m = NULL;
		}
	}
	return EVP_MAC_init(*m, secret, hash_len, NULL) == 1 ? *m : NULL;
}

/* §7.1 HKDF-Expand-Label(secret, label, "", len) with m keyed with the
 * secret (rec_mac_key).  Every len here is at most the hash's length, so
 * HKDF-Expand is its first block alone: T(1) = HMAC(secret, HkdfLabel ||
 * 0x01) (RFC 5869 §2.3).  One HMAC instead of an EVP_KDF context with its
 * parameters: half the instructions.  m can go on to the next label. */
static int rec_expand(EVP_MAC_CTX *m, const char *label, uint8_t *out, size_t len)
{
	uint8_t info[2 + 1 + 255 + 1 + 1], t[EVP_MAX_MD_SIZE];
	size_t ll = strlen(label), n = 0, tl = 0;
	info[n++] = (uint8_t)(len >> 8);
	info[n++] = (uint8_t)len;
	info[n++] = (uint8_t)(6 + ll);
	memcpy(info + n, "tls13 ", 6);
	memcpy(info + n + 6, label, ll);
	n += 6 + ll;
	info[n++] = 0; /* empty context */
	info[n++] = 1; /* RFC 5869's block counter */
	/* init without a key restarts from the key's padded states */
	int ok = EVP_MAC_init(m, NULL, 0, NULL) == 1 && EVP_MAC_update(m, info, n) == 1 &&
		 EVP_MAC_final(m, t, &tl, sizeof t) == 1 && tl >= len;
	if (ok)
		memcpy(out, t, len);
	OPENSSL_cleanse(t, sizeof t);
	return ok ? 0 : -EPROTO;
}

/* §7.3: write key and IV from a traffic secret; the record counter restarts. */
static int rec_keys(struct rec_dir *d, unsigned suite, size_t hash_len)
{
	EVP_MAC_CTX *m = rec_mac_key(d->secret, hash_len);
	d->seq = 0;
	if (!m || rec_expand(m, "key", d->key, rec_key_len(suite)) ||
	    rec_expand(m, "iv", d->iv, sizeof d->iv))
		return -EPROTO;
	return 0;
}

/* §7.2: the next generation of a traffic secret. */
static int rec_update(struct rec_dir *d, unsigned suite, size_t hash_len)
{
	uint8_t next[REC_SECRET_MAX];
	EVP_MAC_CTX *m = rec_mac_key(d->secret, hash_len);
	if (!m || rec_expand(m, "traffic upd", next, hash_len))
		return -EPROTO;
	memcpy(d->secret, next, hash_len);
	OPENSSL_cleanse(next, sizeof next);
	return rec_keys(d, suite, hash_len);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A key log line is "LABEL <client random, 64 hex> <secret hex>"; we want the
 * first-generation application traffic secrets. */
static void rec_keylog(const SSL *ssl, const char *line)
{
	struct rec_state *st = SSL_get_app_data(ssl);
	static const char client[] = "CLIENT_TRAFFIC_SECRET_0 ", server[] = "SERVER_TRAFFIC_SECRET_0 ";
	struct rec_dir *d;
	uint8_t bit;
	if (!st)
		return;
	/* A server writes with the server's secret and reads with the client's. */
	int srv = SSL_is_server((SSL *)ssl);
	st->is_server = (uint8_t)srv;
	if (!strncmp(line, client, sizeof client - 1))
		d = srv ? &st->rd : &st->wr, bit = 1;
	else if (!strncmp(line, server, sizeof server - 1))
		d = srv ? &st->wr : &st->rd, bit = 2;
	else
		return;
	const char *hex = strchr(line + sizeof client - 1, ' ');
	if (!hex)
		return;
	hex++;
	size_t n = strlen(hex) / 2;
	if (n != 32 && n != 48)
		return;
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return;
		d->secret[i] = (uint8_t)(hi << 4 | lo);
	}
	st->hash_len = (uint8_t)n;
	st->have_secrets |= bit;
}

void rec_capture_secrets(SSL_CTX *ctx) { SSL_CTX_set_keylog_callback(ctx, rec_keylog); }

int rec_captures_secrets(SSL_CTX *ctx) { return SSL_CTX_get_keylog_callback(ctx) == rec_keylog; }

int rec_set_secrets(struct rec_state *st, unsigned suite_id, const uint8_t *write_secret,
		    const uint8_t *read_secret, size_t hash_len)
{
	if (pthread_once(&rec_once, rec_fetch))
		return -EPROTO;
	unsigned suite;
	size_t want = 32;
	switch (suite_id) {
	case 0x1301: suite = REC_AES_128_GCM; break;
	case 0x1302: suite = REC_AES_256_GCM; want = 48; break;
	case 0x1303: suite = REC_CHACHA20_POLY1305; break;
	default: return -EPROTONOSUPPORT;
	}
	if (!rec_ciphers[suite] || !rec_hmac)
		return -EPROTONOSUPPORT;
	if (hash_len != want)
		return -EPROTO;
	if (write_secret != st->wr.secret)
		memcpy(st->wr.secret, write_secret, hash_len);
	if (read_secret != st->rd.secret)
		memcpy(st->rd.secret, read_secret, hash_len);
	st->hash_len = (uint8_t)hash_len;
	if (rec_keys(&st->rd, suite, hash_len) || rec_keys(&st->wr, suite, hash_len))
		return -EPROTO;
	st->suite = (uint8_t)suite;
	return 0;
}

int rec_start(struct rec_state *st, SSL *ssl)
{
	if (SSL_version(ssl) != TLS1_3_VERSION || !SSL_is_init_finished(ssl))
		return -EPROTONOSUPPORT;
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
	if (st->have_secrets != 3)
		return -EPROTO;
	return rec_set_secrets(st, c ? SSL_CIPHER_get_protocol_id(c) : 0, st->wr.secret,
			       st->rd.secret, st->hash_len);
}

/* ---- sealing ---- */

/* One record whose TLSInnerPlaintext (§5.2) is a || b. */
static int rec_encrypt(struct rec_state *st, const uint8_t *a, size_t an, const uint8_t *b,
		       size_t bn, struct buf *out)
{
	if (st->wr.seq == UINT64_MAX) /* §5.5: never reuse a nonce */
		return -EPROTO;
	if (!st->suite || an + bn > REC_CIPHER_MAX - REC_TAG)
		return -EINVAL;
	size_t clen = an + bn + REC_TAG;
	uint8_t *r = (uint8_t *)buf_reserve(out, REC_HDR + clen);
	if (!r)
		return -ENOMEM;
	r[0] = CT_APPLICATION_DATA, r[1] = 3, r[2] = 3;
	r[3] = (uint8_t)(clen >> 8), r[4] = (uint8_t)clen;
	uint8_t *c = r + REC_HDR;
	/* In place, one update: a separate one for the type byte costs more
	 * than copying the content. */
	if (an)
		memmove(c, a, an);
	if (bn)
		memmove(c + an, b, bn);
	struct rec_slot *s = rec_init(&rec_enc, st->suite, &st->wr, 1);
	int l1, l2, l3;
	if (!s)
		return -EPROTO;
	if (!EVP_CipherUpdate(s->ctx, NULL, &l1, r, REC_HDR) ||
	    !EVP_CipherUpdate(s->ctx, c, &l2, c, (int)(an + bn)) ||
	    !EVP_CipherFinal_ex(s->ctx, c + an + bn, &l3) || !rec_tag(s->ctx, c + an + bn, 1)) {
		s->keyed = 0;
		return -EPROTO;
	}
	st->wr.seq++;
	buf_commit(out, REC_HDR + clen);
	return 0;
}

/* Content of one type, no padding. */
static int rec_seal(struct rec_state *st, uint8_t type, const uint8_t *p, size_t n,
		    struct buf *out)
{
	return rec_encrypt(st, p, n, &type, 1, out);
}

int rec_seal_inner(struct rec_state *st, const uint8_t *inner, size_t n, struct buf *out)
{
	return rec_encrypt(st, inner, n, NULL, 0, out);
}

int rec_write(struct rec_state *st, const void *data, size_t len, struct buf *out)
{
	if (st->closed)
		return -EPIPE;
	const uint8_t *p = data;
	while (len) {
		size_t n = len < REC_PLAIN_MAX ? len : REC_PLAIN_MAX;
		int rc = rec_seal(st, CT_APPLICATION_DATA, p, n, out);
		if (rc)
			return rc;
		p += n;
		len -= n;
	}
	return 0;
}

int rec_close(struct rec_state *st, struct buf *out)
{
	static const uint8_t close_notify[2] = { 1, 0 }; /* warning, close_notify */
	if (st->closed)
		return -EPIPE;
	int rc = rec_seal(st, CT_ALERT, close_notify, sizeof close_notify, out);
	st->closed = 1;
	return rc;
}

int rec_alert(struct rec_state *st, uint8_t description, struct buf *out)
{
	const uint8_t alert[2] = { 2, description }; /* fatal */
	if (st->closed)
		return -EPIPE;
	st->closed = 1;
	return st->suite ? rec_seal(st, CT_ALERT, alert, sizeof alert, out) : -EPROTO;
}

/* ---- opening ---- */

/* §4.6.3: rotate the read key; answer a request with our own KeyUpdate
 * (not requesting one back) under the old write key, then rotate that. */
static int rec_key_update(struct rec_state *st, uint8_t requested, struct buf *out)
{
	if (requested > 1)
		return -EPROTO;
	if (rec_update(&st->rd, st->suite, st->hash_len))
		return -EPROTO;
	if (!requested || st->closed)
		return 0;
	static const uint8_t ku[5] = { HT_KEY_UPDATE, 0, 0, 1, 0 };
	int rc = rec_seal(st, CT_HANDSHAKE, ku, sizeof ku, out);
	return rc ? rc : rec_update(&st->wr, st->suite, st->hash_len);
}

/* Post-handshake messages, each whole within its record (we offer no
 * post-handshake authentication, so only tickets and key updates may come). */
static int rec_handshake(struct rec_state *st, const uint8_t *p, size_t n, struct buf *out)
{
	while (n) {
		if (n < 4)
			return -EPROTO;
		size_t mlen = (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
		if (mlen > n - 4)
			return -EPROTO; /* fragmented over records: not supported */
		if (p[0] == HT_KEY_UPDATE) {
			/* §5.1: a key change must end its record. */
			if (mlen != 1 || n != 5)
				return -EPROTO;
			return rec_key_update(st, p[4], out);
		}
		/* Tickets come from servers only (§4.6.1). */
		if (p[0] != HT_NEW_SESSION_TICKET || st->is_server)
			return -EPROTO;
		p += 4 + mlen;
		n -= 4 + mlen;
	}
	return 0;
}

/* Decrypt and act on one whole record r of REC_HDR + clen bytes. */
static int rec_open(struct rec_state *st, const uint8_t *r, size_t clen, struct buf *out,
		    rec_deliver_fn deliver, void *arg)
{
	size_t n = clen - REC_TAG;
	struct rec_slot *s = rec_init(&rec_dec, st->suite, &st->rd, 0);
	int l1, l2, l3;
	if (!s)
		return -EPROTO;
	if (!EVP_CipherUpdate(s->ctx, NULL, &l1, r, REC_HDR) ||
	    !EVP_CipherUpdate(s->ctx, rec_plain, &l2, r + REC_HDR, (int)n) ||
	    !rec_tag(s->ctx, (uint8_t *)(r + REC_HDR + n), 0) ||
	    EVP_CipherFinal_ex(s->ctx, rec_plain + n, &l3) != 1) {
		s->keyed = 0; /* bad_record_mac; or the context failed */
		return -EPROTO;
	}
	st->rd.seq++;
	while (n && !rec_plain[n - 1]) /* §5.4: padding */
		n--;
	if (!n)
		return -EPROTO;
	uint8_t type = rec_plain[--n];
	if (n > REC_PLAIN_MAX)
		return -EPROTO;
	switch (type) {
	case CT_APPLICATION_DATA:
		return n ? deliver(arg, (const char *)rec_plain, n) : 0;
	case CT_HANDSHAKE:
		return rec_handshake(st, rec_plain, n, out);
	case CT_ALERT: /* §6.1: close_notify ends the stream, anything else fails it */
		return n == 2 && rec_plain[1] == 0 ? -ECONNRESET : -EPROTO;
	default:
		return -EPROTO;
	}
}

/* The ciphertext length a record header announces, or -EPROTO (§5.2). */
static int rec_length(const uint8_t *h)
{
	size_t clen = (size_t)h[3] << 8 | h[4];
	if (h[0] != CT_APPLICATION_DATA || clen < 1 + REC_TAG || clen > REC_CIPHER_MAX)
		return -EPROTO;
	return (int)clen;
}

/* Add bytes to the partial record; open it once whole.  *took: the bytes
 * taken (also when opening the record failed or stopped).  Returns 0 or
 * what opening it returned. */
static int rec_fill(struct rec_state *st, const uint8_t *in, size_t len, struct buf *out,
		    rec_deliver_fn deliver, void *arg, size_t *took)
{
	size_t want = REC_HDR;
	int clen = 0;
	if (st->part_len >= REC_HDR) {
		clen = rec_length(st->part);
		want += (size_t)clen;
	}
	size_t take = want - st->part_len < len ? want - st->part_len : len;
	memcpy(st->part + st->part_len, in, take);
	st->part_len += (uint32_t)take;
	*took = take;
	if (st->part_len == REC_HDR && (clen = rec_length(st->part)) < 0)
		return clen;
	if (st->part_len < REC_HDR || st->part_len < REC_HDR + (size_t)clen)
		return 0;
	int rc = rec_open(st, st->part, (size_t)clen, out, deliver, arg);
	free(st->part);
	st->part = NULL;
	st->part_len = 0;
	return rc;
}

int rec_read_n(struct rec_state *st, const uint8_t *in, size_t len, struct buf *out,
	       rec_deliver_fn deliver, void *arg, size_t *used)
{
	size_t done = 0;
	int rc = 0;
	if (!st->suite)
		rc = -EPROTO;
	while (!rc && done < len) {
		const uint8_t *p = in + done;
		size_t left = len - done;
		if (!st->part_len) {
			int clen = left >= REC_HDR ? rec_length(p) : 0;
			if (clen < 0) {
				rc = clen;
				break;
			}
			if (left >= REC_HDR + (size_t)clen && clen) {
				done += REC_HDR + (size_t)clen;
				rc = rec_open(st, p, (size_t)clen, out, deliver, arg);
				continue;
			}
			/* An incomplete record: hold it until the rest arrives. */
			if (!(st->part = malloc(REC_HDR + REC_CIPHER_MAX))) {
				rc = -ENOMEM;
				break;
			}
		}
		size_t took = 0;
		rc = rec_fill(st, p, left, out, deliver, arg, &took);
		done += took;
	}
	if (used)
		*used = done;
	return rc;
}

int rec_read(struct rec_state *st, const uint8_t *in, size_t len, struct buf *out,
	     rec_deliver_fn deliver, void *arg)
{
	return rec_read_n(st, in, len, out, deliver, arg, NULL);
}

void rec_free(struct rec_state *st)
{
	free(st->part);
	OPENSSL_cleanse(st, sizeof *st);
}
