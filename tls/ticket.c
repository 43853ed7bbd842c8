#include "ticket.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <string.h>

struct tls_ticket_key {
	unsigned char name[16]; /* sent in the clear: tells which key sealed it */
	unsigned char aes[32];	/* AES-256-CBC, as OpenSSL's own tickets */
	unsigned char hmac[32]; /* HMAC-SHA256 over the sealed ticket */
	time_t born;		/* tls_ticket_time() when made */
	int live;		/* 0 = no key */
};

/* One ring per process, shared by every context and worker thread, so that
 * a certificate reload (new contexts) keeps returning clients' tickets.
 * Guarded by the mutex: taken once per full handshake or resumption, never
 * per record. */
static struct tls_ticket_key tls_ticket_cur, tls_ticket_prev;
static pthread_mutex_t tls_ticket_lock = PTHREAD_MUTEX_INITIALIZER;
static time_t (*tls_ticket_now)(void);

void tls_ticket_clock(time_t (*now)(void)) { tls_ticket_now = now; }

/* Seconds since boot, suspend included: a wall clock set back would keep
 * a key alive past its two periods. */
static time_t tls_ticket_time(void)
{
	struct timespec ts;
	if (tls_ticket_now)
		return tls_ticket_now();
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return ts.tv_sec;
}

static void tls_ticket_forget(struct tls_ticket_key *k) { OPENSSL_cleanse(k, sizeof *k); }

/* Under the lock: make the current key current for now.  A key is dropped
 * two periods after it was made even if no handshake came in between (and
 * at once if the clock went back, e.g. a test's). */
static int tls_ticket_rotate(time_t now)
{
	time_t age = now - tls_ticket_cur.born;
	if (tls_ticket_cur.live && age >= 0 && age < TLS_TICKET_PERIOD)
		return 0;
	tls_ticket_forget(&tls_ticket_prev);
	if (tls_ticket_cur.live && age >= 0 && age < 2 * TLS_TICKET_PERIOD)
		tls_ticket_prev = tls_ticket_cur;
	tls_ticket_forget(&tls_ticket_cur);
	struct tls_ticket_key k;
	if (RAND_bytes(k.name, sizeof k.name) != 1 || RAND_priv_bytes(k.aes, sizeof k.aes) != 1 ||
	    RAND_priv_bytes(k.hmac, sizeof k.hmac) != 1) {
		tls_ticket_forget(&k);
		return -1;
	}
	k.born = now;
	k.live = 1;
	tls_ticket_cur = k;
	tls_ticket_forget(&k);
	return 0;
}

/* Copy out the key to seal with (enc) or the one named (open).  Returns 1
 * for the current key, 2 for the previous one, 0 for none. */
static int tls_ticket_key(const unsigned char *name, int enc, struct tls_ticket_key *out)
{
	int which = 0;
	pthread_mutex_lock(&tls_ticket_lock);
	if (!tls_ticket_rotate(tls_ticket_time())) {
		if (enc || !memcmp(name, tls_ticket_cur.name, sizeof tls_ticket_cur.name))
			which = 1;
		else if (tls_ticket_prev.live &&
			 !memcmp(name, tls_ticket_prev.name, sizeof tls_ticket_prev.name))
			which = 2;
		if (which)
			*out = which == 1 ? tls_ticket_cur : tls_ticket_prev;
	}
	pthread_mutex_unlock(&tls_ticket_lock);
	return which;
}

/* SSL_CTX_set_tlsext_ticket_key_evp_cb: 1 = use this key, 2 = opened, and
 * send a fresh ticket under the current key (the previous key's tickets,
 * and every TLS 1.3 ticket), 0 = unknown key (full handshake), -1 =
 * failure. */
static int tls_ticket_cb(SSL *ssl, unsigned char name[16], unsigned char *iv,
			 EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	struct tls_ticket_key k;
	if (enc && RAND_bytes(iv, EVP_CIPHER_get_iv_length(EVP_aes_256_cbc())) != 1)
		return -1;
	int which = tls_ticket_key(name, enc, &k);
	if (!which)
		return enc ? -1 : 0;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k.hmac, sizeof k.hmac),
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	int ok = EVP_MAC_CTX_set_params(hctx, params) == 1;
	if (enc) {
		memcpy(name, k.name, sizeof k.name);
		ok = ok && EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k.aes, iv) == 1;
	} else {
		ok = ok && EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k.aes, iv) == 1;
	}
	tls_ticket_forget(&k);
	/* RFC 8446 §4.6.1, §C.4: a TLS 1.3 client uses a ticket once, so one
	 * that resumed can resume again only with a ticket from this
	 * connection; OpenSSL sends one after a resumption only when told the
	 * ticket needs renewing. */
	if (ok && !enc && SSL_version(ssl) == TLS1_3_VERSION)
		which = 2;
	return ok ? which : -1;
}

int tls_ticket_use(SSL_CTX *ctx)
{
	/* One ticket per handshake, not OpenSSL's two: a client resumes once
	 * per reconnection and gets a new ticket then (tickets are single-use,
	 * RFC 8446 §C.4), and each ticket costs a message and its sealing. */
	SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET);
	if (!SSL_CTX_set_num_tickets(ctx, 1) ||
	    !SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, tls_ticket_cb))
		return -1;
	SSL_CTX_set_timeout(ctx, TLS_TICKET_PERIOD);
	return 0;
}
