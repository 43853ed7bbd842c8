/* connlimit: a chained hash of connected addresses, one node per address
 * (not per connection), freed when its last connection closes. */
#include "connlimit.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Buckets: chains stay short for up to a few hundred thousand addresses,
 * and 128 KiB is allocated only when the limit is on. */
#define CONNLIMIT_BUCKETS 16384

struct connlimit_addr {
	struct connlimit_addr *next;
	uint32_t count;
	uint32_t bucket;
	uint8_t key[16];
};

struct connlimit {
	pthread_mutex_t mu;
	unsigned max;
	struct connlimit_addr *b[CONNLIMIT_BUCKETS];
};

int connlimit_peer_key(int fd, uint8_t key[16])
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	if (getpeername(fd, (struct sockaddr *)&ss, &len))
		return -1;
	memset(key, 0, 16);
	if (ss.ss_family == AF_INET) {
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &((struct sockaddr_in *)&ss)->sin_addr, 4);
	} else if (ss.ss_family == AF_INET6) {
		memcpy(key, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
	} else
		return -1;
	return 0;
}

static uint32_t bucket_of(const uint8_t k[16])
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (int i = 0; i < 16; i++)
		h = (h ^ k[i]) * 16777619u;
	return h % CONNLIMIT_BUCKETS;
}

struct connlimit *connlimit_new(unsigned max)
{
	if (!max)
		return NULL;
	struct connlimit *l = calloc(1, sizeof *l); /* owned by the caller */
	if (!l)
		return NULL;
	if (pthread_mutex_init(&l->mu, NULL)) {
		free(l);
		return NULL;
	}
	l->max = max;
	return l;
}

void connlimit_free(struct connlimit *l)
{
	if (!l)
		return;
	for (uint32_t i = 0; i < CONNLIMIT_BUCKETS; i++)
		for (struct connlimit_addr *a = l->b[i], *next; a; a = next) {
			next = a->next;
			free(a);
		}
	pthread_mutex_destroy(&l->mu);
	free(l);
}

int connlimit_acquire(struct connlimit *l, int fd, struct connlimit_addr **out)
{
	uint8_t key[16];
	*out = NULL;
	if (!l || connlimit_peer_key(fd, key))
		return 0;
	uint32_t bi = bucket_of(key);
	int rc = 0;
	pthread_mutex_lock(&l->mu);
	struct connlimit_addr *a = l->b[bi];
	while (a && memcmp(a->key, key, 16))
		a = a->next;
	if (a && a->count >= l->max) {
		rc = 1;
	} else if (!a && !(a = calloc(1, sizeof *a))) {
		rc = -ENOMEM; /* owned by the table until its count drops to 0 */
	} else {
		if (!a->count) {
			memcpy(a->key, key, 16);
			a->bucket = bi;
			a->next = l->b[bi];
			l->b[bi] = a;
		}
		a->count++;
		*out = a;
	}
	pthread_mutex_unlock(&l->mu);
	return rc;
}

void connlimit_release(struct connlimit *l, struct connlimit_addr *a)
{
	if (!l || !a)
		return;
	pthread_mutex_lock(&l->mu);
	if (--a->count == 0) {
		struct connlimit_addr **p = &l->b[a->bucket];
		while (*p != a)
			p = &(*p)->next;
		*p = a->next;
		free(a);
	}
	pthread_mutex_unlock(&l->mu);
}
