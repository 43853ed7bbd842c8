/* acctlimit: an open-addressed table of accounts, keyed by 64 bits of the
 * SHA-256 of the bare JID (names reach 3 KiB; a collision needs a second
 * preimage of 64 bits), guarded by one mutex taken only on the login path. */
#include "acctlimit.h"

#include <openssl/sha.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct acct_entry {
	uint64_t key;
	uint64_t since_ms; /* start of the window; 0 = free slot */
	uint32_t failures;
};

struct acctlimit {
	pthread_mutex_t mu;
	unsigned max;
	uint64_t window_ms;
	struct acct_entry *e; /* ACCTLIMIT_SLOTS; allocated at the first failure */
};

struct acctlimit *acctlimit_new(unsigned max, unsigned window_s)
{
	if (!max)
		return NULL;
	struct acctlimit *l = calloc(1, sizeof *l); /* owned by the caller */
	if (!l)
		return NULL;
	if (pthread_mutex_init(&l->mu, NULL)) {
		free(l);
		return NULL;
	}
	l->max = max;
	l->window_ms = (uint64_t)window_s * 1000;
	return l;
}

void acctlimit_free(struct acctlimit *l)
{
	if (!l)
		return;
	pthread_mutex_destroy(&l->mu);
	free(l->e);
	free(l);
}

static uint64_t key_of(const char *jid)
{
	unsigned char d[SHA256_DIGEST_LENGTH];
	SHA256((const unsigned char *)jid, strlen(jid), d);
	uint64_t k;
	memcpy(&k, d, sizeof k);
	return k;
}

/* The live entry for key, or with create a slot for it: a free or expired
 * one among the 8 probed, else the oldest of them.  Called locked. */
static struct acct_entry *lookup(struct acctlimit *l, uint64_t key, uint64_t now, int create)
{
	struct acct_entry *victim = NULL;
	int victim_live = 1;
	for (uint32_t i = 0; l->e && i < 8; i++) {
		struct acct_entry *e = &l->e[(key + i) % ACCTLIMIT_SLOTS];
		int live = e->since_ms && now - e->since_ms < l->window_ms;
		if (live && e->key == key)
			return e;
		if (!live && victim_live) {
			victim = e;
			victim_live = 0;
		} else if (live && victim_live && (!victim || e->since_ms < victim->since_ms))
			victim = e;
	}
	if (!create)
		return NULL;
	if (!l->e && !(l->e = calloc(ACCTLIMIT_SLOTS, sizeof *l->e)))
		return NULL;
	if (!victim)
		victim = &l->e[key % ACCTLIMIT_SLOTS];
	*victim = (struct acct_entry){.key = key, .since_ms = now ? now : 1};
	return victim;
}

int acctlimit_blocked(struct acctlimit *l, const char *jid, uint64_t now_ms)
{
	if (!l)
		return 0;
	uint64_t key = key_of(jid);
	pthread_mutex_lock(&l->mu);
	struct acct_entry *e = lookup(l, key, now_ms, 0);
	int blocked = e && e->failures >= l->max;
	pthread_mutex_unlock(&l->mu);
	return blocked;
}

int acctlimit_failed(struct acctlimit *l, const char *jid, uint64_t now_ms)
{
	if (!l)
		return 0;
	uint64_t key = key_of(jid);
	pthread_mutex_lock(&l->mu);
	struct acct_entry *e = lookup(l, key, now_ms, 1);
	int reached = e && ++e->failures == l->max;
	pthread_mutex_unlock(&l->mu);
	return reached;
}
