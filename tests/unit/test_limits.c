/* test_limits: the two tables the cm's workers share (cm/connlimit.c,
 * cm/acctlimit.c), driven from several threads at once. */
#include "cm/acctlimit.h"
#include "cm/connlimit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"

/* A connected loopback pair from source address src; returns the accepted
 * end (whose peer is src), *client the other. */
static int pair_from(int listener, uint16_t port, const char *src, int *client)
{
	struct sockaddr_in a = {.sin_family = AF_INET}, to = {.sin_family = AF_INET,
								.sin_port = htons(port)};
	inet_pton(AF_INET, src, &a.sin_addr);
	inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
	*client = socket(AF_INET, SOCK_STREAM, 0);
	if (*client < 0 || bind(*client, (struct sockaddr *)&a, sizeof a) ||
	    connect(*client, (struct sockaddr *)&to, sizeof to))
		return -1;
	return accept(listener, NULL, NULL);
}

static int listener_on(uint16_t *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	socklen_t len = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 64) ||
	    getsockname(fd, (struct sockaddr *)&a, &len))
		return -1;
	*port = ntohs(a.sin_port);
	return fd;
}

static void connections_per_address(void)
{
	CHECK(connlimit_new(0) == NULL); /* off */
	struct connlimit_addr *a = (void *)1;
	CHECK(connlimit_acquire(NULL, 0, &a) == 0 && a == NULL);
	uint16_t port;
	int l = listener_on(&port);
	CHECK(l >= 0);
	struct connlimit *cl = connlimit_new(2);
	int srv[4], cli[4];
	struct connlimit_addr *got[4] = {0};
	const char *src[4] = {"127.0.0.7", "127.0.0.7", "127.0.0.7", "127.0.0.8"};
	for (int i = 0; i < 4; i++)
		srv[i] = pair_from(l, port, src[i], &cli[i]);
	CHECK(connlimit_acquire(cl, srv[0], &got[0]) == 0 && got[0]);
	CHECK(connlimit_acquire(cl, srv[1], &got[1]) == 0 && got[1] == got[0]);
	CHECK(connlimit_acquire(cl, srv[2], &got[2]) == 1 && !got[2]); /* third from .7 */
	CHECK(connlimit_acquire(cl, srv[3], &got[3]) == 0 && got[3] && got[3] != got[0]);
	connlimit_release(cl, got[1]);
	CHECK(connlimit_acquire(cl, srv[2], &got[2]) == 0 && got[2]); /* a place came free */
	connlimit_release(cl, got[0]);
	connlimit_release(cl, got[2]);
	connlimit_release(cl, got[3]);
	connlimit_release(cl, NULL);
	/* Every node was freed with its last connection: the first comes back new. */
	CHECK(connlimit_acquire(cl, srv[0], &got[0]) == 0 && got[0]);
	connlimit_release(cl, got[0]);
	uint8_t key[16];
	CHECK(connlimit_peer_key(-1, key) == -1);
	for (int i = 0; i < 4; i++) {
		close(srv[i]);
		close(cli[i]);
	}
	close(l);
	connlimit_free(cl);
}

struct hammer {
	struct connlimit *cl;
	int fd;
	int refused;
};

/* Acquire and release in a loop: the count must come back to zero. */
static void *hammer_run(void *arg)
{
	struct hammer *h = arg;
	for (int i = 0; i < 20000; i++) {
		struct connlimit_addr *a;
		int rc = connlimit_acquire(h->cl, h->fd, &a);
		if (rc == 1)
			h->refused++;
		else
			connlimit_release(h->cl, a);
	}
	return NULL;
}

static void connections_from_threads(void)
{
	uint16_t port;
	int l = listener_on(&port), cli, srv = pair_from(l, port, "127.0.0.9", &cli);
	struct connlimit *cl = connlimit_new(1000);
	pthread_t t[4];
	struct hammer h[4];
	for (int i = 0; i < 4; i++) {
		h[i] = (struct hammer){.cl = cl, .fd = srv};
		pthread_create(&t[i], NULL, hammer_run, &h[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 4; i++)
		CHECK(h[i].refused == 0); /* never more than 4 at once */
	/* Back to zero: exactly the limit fits again, and no more. */
	struct connlimit_addr *a[1001];
	int ok = 0;
	for (int i = 0; i < 1000; i++)
		ok += connlimit_acquire(cl, srv, &a[i]) == 0;
	CHECK(ok == 1000);
	CHECK(connlimit_acquire(cl, srv, &a[1000]) == 1);
	for (int i = 0; i < 1000; i++)
		connlimit_release(cl, a[i]);
	connlimit_free(cl);
	close(srv);
	close(cli);
	close(l);
}

static void failures_per_account(void)
{
	CHECK(acctlimit_new(0, 60) == NULL); /* off */
	CHECK(acctlimit_blocked(NULL, "a@x", 1) == 0 && acctlimit_failed(NULL, "a@x", 1) == 0);
	struct acctlimit *al = acctlimit_new(3, 60);
	CHECK(!acctlimit_blocked(al, "alice@x", 1000));
	CHECK(acctlimit_failed(al, "alice@x", 1000) == 0);
	CHECK(acctlimit_failed(al, "alice@x", 2000) == 0);
	CHECK(!acctlimit_blocked(al, "alice@x", 2000));
	CHECK(acctlimit_failed(al, "alice@x", 3000) == 1); /* the third reaches it */
	CHECK(acctlimit_blocked(al, "alice@x", 3000));
	CHECK(acctlimit_blocked(al, "alice@x", 60999)); /* until the window ends */
	CHECK(!acctlimit_blocked(al, "bob@x", 3000));	/* others untouched */
	CHECK(!acctlimit_blocked(al, "alice@y", 3000));
	CHECK(!acctlimit_blocked(al, "alice@x", 61000)); /* window: 60 s from the first */
	CHECK(acctlimit_failed(al, "alice@x", 61000) == 0); /* a new window */
	CHECK(!acctlimit_blocked(al, "alice@x", 61000));
	/* Many accounts failing once do not block each other. */
	char name[32];
	for (int i = 0; i < 2 * ACCTLIMIT_SLOTS; i++) {
		snprintf(name, sizeof name, "u%d@x", i);
		acctlimit_failed(al, name, 70000);
	}
	int blocked = 0;
	for (int i = 0; i < 2 * ACCTLIMIT_SLOTS; i++) {
		snprintf(name, sizeof name, "u%d@x", i);
		blocked += acctlimit_blocked(al, name, 70000);
	}
	CHECK(blocked == 0);
	acctlimit_free(al);
}

int main(void)
{
	connections_per_address();
	connections_from_threads();
	failures_per_account();
	CHECK_DONE();
}
