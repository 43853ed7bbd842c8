/* smid: where the sessions of moved SM-IDs are (see smid.h). */
#include "smid.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "handoff.h"

#define SMID_BUCKETS 1024

struct smid {
	struct smid *next;
	unsigned worker;
	uint32_t sid;
	char token[HANDOFF_TOKEN_HEX];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct smid *table[SMID_BUCKETS];

static unsigned hex(char ch)
{
	return ch <= '9' ? (unsigned)(ch - '0') : (unsigned)(ch - 'a' + 10);
}

/* The token is random lowercase hex: its first digits spread the buckets. */
static struct smid **bucket(const char *token)
{
	return &table[(hex(token[0]) << 8 | hex(token[1]) << 4 | hex(token[2])) % SMID_BUCKETS];
}

static struct smid **find(const char *token)
{
	struct smid **p = bucket(token);
	/* In constant time: how long a compare took tells nothing of a guess. */
	while (*p && CRYPTO_memcmp((*p)->token, token, HANDOFF_TOKEN_HEX))
		p = &(*p)->next;
	return p;
}

int smid_add(const char *token, unsigned worker, uint32_t sid)
{
	struct smid *e = malloc(sizeof *e); /* freed by smid_del */
	if (!e)
		return -ENOMEM;
	e->worker = worker;
	e->sid = sid;
	memcpy(e->token, token, HANDOFF_TOKEN_HEX);
	pthread_mutex_lock(&lock);
	struct smid **p = bucket(token);
	e->next = *p;
	*p = e;
	pthread_mutex_unlock(&lock);
	return 0;
}

int smid_find(const char *token, unsigned *worker, uint32_t *sid)
{
	pthread_mutex_lock(&lock);
	struct smid *e = *find(token);
	if (e) {
		*worker = e->worker;
		*sid = e->sid;
	}
	pthread_mutex_unlock(&lock);
	return e ? 0 : -1;
}

void smid_del(const char *token)
{
	pthread_mutex_lock(&lock);
	struct smid **p = find(token), *e = *p;
	if (e)
		*p = e->next;
	pthread_mutex_unlock(&lock);
	free(e);
}
