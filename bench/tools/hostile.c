/* starling-hostile: hostile clients against starling-cm (issue 9), to show
 * that its memory stays bounded under attack.  Opens N plain TCP connections
 * to the c2s port; each sends a valid stream header and then one attack:
 *
 *   tag    a start tag that never ends: <message a0='v' a1='v' ... forever
 *   attr   an attribute value that never ends: <message to='xxxx... forever
 *   nest   elements nested without end: <a><a><a>... forever
 *   utf8   invalid UTF-8 in character data: <message><body>\xff\xfe...
 *   slow   slowloris: the stream header one byte per --trickle-ms
 *   hold   (only with --kinds) an attribute value of --hold-bytes, then
 *          silence: every connection keeps a partial element as large as
 *          the limit allows, the worst case for the server's memory
 *
 * Every connection ends with the server's stream error (its condition is
 * recorded), a close without one, or still open at --timeout.  The cm's
 * resident memory (VmRSS of --pid) is sampled before, every 100 ms while
 * the attack runs (the peak), and after the last connection ended.  The
 * report is JSON on stdout; the exit status is 0 when every connection
 * ended with a stream error or a close.
 *
 *   starling-hostile -p PORT --pid CM_PID [-H 127.0.0.1] [-d localhost]
 *                    [-n 10000] [--kinds tag,attr,nest,utf8,slow,hold]
 *                    [--rate 2000] [--trickle-ms 1000] [--hold-bytes 9000]
 *                    [--timeout 120]
 *
 * One thread, epoll, non-blocking sockets, edge-triggered; per connection
 * about 300 bytes, mostly the tail of what the server sent. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum kind { K_TAG, K_ATTR, K_NEST, K_UTF8, K_SLOW, K_HOLD, K_COUNT };
static const char *const kind_names[K_COUNT] = {"tag", "attr", "nest", "utf8", "slow", "hold"};
#define DEFAULT_KINDS 5 /* hold is asked for by name */

enum end { E_OPEN, E_ERROR, E_CLOSED, E_REFUSED };

#define TAIL 256
#define CONDS 8 /* distinct stream error conditions recorded per kind */

struct hconn {
	int fd;
	uint8_t kind, end, connected;
	uint32_t sent;	   /* bytes of the attack sent (header included) */
	uint64_t next_ms;  /* slow: when the next byte is due */
	char tail[TAIL];   /* the last bytes the server sent, NUL-terminated */
	char cond[32];	   /* the stream error condition, once seen */
};

struct opts {
	const char *host, *domain;
	int port, pid, n, rate, trickle_ms, timeout_s, hold_bytes;
	int kinds[K_COUNT], nkinds;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* VmRSS of pid in KiB, or -1. */
static long rss_kib(int pid)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	long v = -1;
	while (f && fgets(line, sizeof line, f))
		if (!strncmp(line, "VmRSS:", 6))
			v = strtol(line + 6, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

static int header(const struct opts *o, char *out, size_t cap)
{
	return snprintf(out, cap,
			"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
			"xmlns:stream='http://etherx.jabber.org/streams' to='%s' version='1.0'>",
			o->domain);
}

/* The next chunk of c's attack after the header; its length. */
static size_t attack_chunk(const struct hconn *c, size_t hdr_len, char *out, size_t cap)
{
	static const char open_tag[] = "<message", open_attr[] = "<message to='";
	size_t n = 0;
	switch (c->kind) {
	case K_TAG:
		if (c->sent == hdr_len)
			n = (size_t)snprintf(out, cap, "%s", open_tag);
		while (n + 16 < cap)
			n += (size_t)snprintf(out + n, cap - n, " a%u='v'", c->sent + (unsigned)n);
		break;
	case K_ATTR:
	case K_HOLD:
		if (c->sent == hdr_len)
			n = (size_t)snprintf(out, cap, "%s", open_attr);
		memset(out + n, 'x', cap - n);
		n = cap;
		break;
	case K_NEST:
		for (; n + 3 <= cap; n += 3)
			memcpy(out + n, "<a>", 3);
		break;
	case K_UTF8:
		n = (size_t)snprintf(out, cap, "<message><body>\xff\xfe\xc3\x28</body></message>");
		break;
	}
	return n;
}

/* Send what c may send now.  -1 when the connection failed. */
static int pump(const struct opts *o, struct hconn *c, size_t hdr_len, const char *hdr)
{
	char buf[4096];
	for (;;) {
		size_t n;
		const char *p = buf;
		if (c->sent < hdr_len) {
			p = hdr + c->sent;
			n = c->kind == K_SLOW ? 1 : hdr_len - c->sent;
			if (c->kind == K_SLOW && now_ms() < c->next_ms)
				return 0;
		} else if (c->kind == K_SLOW || (c->kind == K_UTF8 && c->sent > hdr_len)) {
			return 0; /* slow: all sent, wait; utf8: one shot */
		} else if (c->kind == K_HOLD && c->sent >= hdr_len + (size_t)o->hold_bytes) {
			return 0; /* hold: all sent, wait for the server's deadline */
		} else {
			n = attack_chunk(c, hdr_len, buf, sizeof buf);
			if (c->kind == K_HOLD && c->sent + n > hdr_len + (size_t)o->hold_bytes)
				n = hdr_len + (size_t)o->hold_bytes - c->sent;
		}
		ssize_t k = send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (k < 0)
			return errno == EAGAIN ? 0 : -1;
		c->sent += (uint32_t)k;
		if (c->kind == K_SLOW) {
			c->next_ms = now_ms() + (uint64_t)o->trickle_ms;
			return 0;
		}
		if ((size_t)k < n)
			return 0;
	}
}

/* Keep the tail of what the server sent and spot its stream error. */
static void take(struct hconn *c, const char *data, size_t n)
{
	size_t have = strlen(c->tail);
	if (n >= TAIL - 1) {
		data += n - (TAIL - 1);
		n = TAIL - 1;
	}
	if (have + n > TAIL - 1) {
		size_t drop = have + n - (TAIL - 1);
		memmove(c->tail, c->tail + drop, have - drop + 1);
		have -= drop;
	}
	memcpy(c->tail + have, data, n);
	c->tail[have + n] = 0;
	const char *e = strstr(c->tail, "<stream:error><");
	if (e && !c->cond[0]) {
		e += strlen("<stream:error><");
		size_t len = strcspn(e, " />");
		if (e[len] && len < sizeof c->cond) {
			memcpy(c->cond, e, len);
			c->cond[len] = 0;
		}
	}
}

static void finish(int ep, struct hconn *c, enum end how, int *open)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->end = (uint8_t)(c->cond[0] ? E_ERROR : how);
	(*open)--;
}

static int connect_one(const struct opts *o, struct hconn *c, int ep, unsigned i)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
	inet_pton(AF_INET, o->host, &sa.sin_addr);
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	c->kind = (uint8_t)o->kinds[i % (unsigned)o->nkinds];
	/* Small kernel buffers: 10,000 floods with autotuned ones (up to 4 MiB
	 * each) pass the machine's tcp_mem, and then no socket can send. */
	int sndbuf = 16384;
	setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) && errno != EINPROGRESS) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	/* Level-triggered until connected: the edge of a connect completing was
	 * seen to go missing for a few percent of 10,000 connections. */
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP, .data.u32 = i};
	return epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void on_event(const struct opts *o, int ep, struct hconn *base, struct hconn *c, uint32_t events,
		     const char *hdr, size_t hdr_len, int *open)
{
	if (events & EPOLLIN) {
		char buf[16384];
		ssize_t k;
		while ((k = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT)) > 0)
			take(c, buf, (size_t)k);
		if (k == 0 || (k < 0 && errno != EAGAIN)) {
			finish(ep, c, E_CLOSED, open);
			return;
		}
	}
	if (events & (EPOLLERR | EPOLLHUP)) {
		finish(ep, c, c->sent ? E_CLOSED : E_REFUSED, open);
		return;
	}
	if (events & EPOLLOUT) {
		if (!c->connected) { /* from now on edge-triggered: no wake-up per idle socket */
			struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
						 .data.u32 = (uint32_t)(c - base)};
			epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
		}
		c->connected = 1;
		if (pump(o, c, hdr_len, hdr) < 0)
			finish(ep, c, E_CLOSED, open);
	}
}

static void report(const struct opts *o, const struct hconn *cs, size_t hdr_len, long before,
		   long peak, long after, double secs)
{
	printf("{\"connections\": %d, \"seconds\": %.1f, \"rss_kib\": {\"before\": %ld, "
	       "\"peak\": %ld, \"after\": %ld}, \"peak_bytes_per_conn\": %.0f, \"kinds\": {",
	       o->n, secs, before, peak, after, (double)(peak - before) * 1024.0 / o->n);
	for (int k = 0, first = 1; k < K_COUNT; k++) {
		int ends[4] = {0}, n = 0, headers = 0;
		const char *conds[CONDS] = {0};
		int counts[CONDS] = {0};
		for (int i = 0; i < o->n; i++) {
			if (cs[i].kind != k || cs[i].fd == -2)
				continue;
			n++;
			headers += cs[i].sent >= hdr_len;
			ends[cs[i].end]++;
			for (int j = 0; cs[i].end == E_ERROR && j < CONDS; j++)
				if (!conds[j] || !strcmp(conds[j], cs[i].cond)) {
					conds[j] = cs[i].cond;
					counts[j]++;
					break;
				}
		}
		if (!n)
			continue;
		printf("%s\"%s\": {\"n\": %d, \"header_sent\": %d, \"open\": %d, \"closed\": %d, "
		       "\"refused\": %d, \"errors\": {", first ? "" : ", ", kind_names[k], n, headers,
		       ends[E_OPEN], ends[E_CLOSED], ends[E_REFUSED]);
		for (int j = 0; j < CONDS && conds[j]; j++)
			printf("%s\"%s\": %d", j ? ", " : "", conds[j], counts[j]);
		printf("}}");
		first = 0;
	}
	printf("}}\n");
}

static int parse_kinds(struct opts *o, char *s)
{
	o->nkinds = 0;
	for (char *t = strtok(s, ","); t; t = strtok(NULL, ",")) {
		int k = 0;
		while (k < K_COUNT && strcmp(t, kind_names[k]))
			k++;
		if (k == K_COUNT || o->nkinds == K_COUNT)
			return -1;
		o->kinds[o->nkinds++] = k;
	}
	return o->nkinds ? 0 : -1;
}

static int parse(struct opts *o, int argc, char **argv)
{
	static const struct option lo[] = {
		{"pid", 1, 0, 'P'},	  {"kinds", 1, 0, 'k'},	 {"rate", 1, 0, 'r'},
		{"trickle-ms", 1, 0, 't'}, {"timeout", 1, 0, 'T'}, {"hold-bytes", 1, 0, 'B'},
		{0, 0, 0, 0}};
	*o = (struct opts){.host = "127.0.0.1", .domain = "localhost", .n = 10000, .rate = 2000,
			   .trickle_ms = 1000, .timeout_s = 120, .hold_bytes = 9000,
			   .nkinds = DEFAULT_KINDS,
			   .kinds = {0, 1, 2, 3, 4}};
	int c;
	while ((c = getopt_long(argc, argv, "H:p:d:n:", lo, NULL)) != -1) {
		switch (c) {
		case 'H': o->host = optarg; break;
		case 'p': o->port = atoi(optarg); break;
		case 'd': o->domain = optarg; break;
		case 'n': o->n = atoi(optarg); break;
		case 'P': o->pid = atoi(optarg); break;
		case 'r': o->rate = atoi(optarg); break;
		case 't': o->trickle_ms = atoi(optarg); break;
		case 'T': o->timeout_s = atoi(optarg); break;
		case 'B': o->hold_bytes = atoi(optarg); break;
		case 'k':
			if (parse_kinds(o, optarg))
				return -1;
			break;
		default: return -1;
		}
	}
	return o->port > 0 && o->pid > 0 && o->n > 0 && o->rate > 0 && o->hold_bytes > 0 ? 0 : -1;
}

/* Descriptors for every connection: take the hard limit. */
static void raise_nofile(void)
{
	struct rlimit rl;
	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	struct opts o;
	if (parse(&o, argc, argv)) {
		fprintf(stderr, "usage: starling-hostile -p PORT --pid CM_PID [-H HOST] [-d DOMAIN] "
				"[-n N] [--kinds tag,attr,nest,utf8,slow,hold] [--rate CONN/S] "
				"[--trickle-ms MS] [--hold-bytes B] [--timeout S]\n");
		return 2;
	}
	raise_nofile();
	struct hconn *cs = calloc((size_t)o.n, sizeof *cs); /* owned here, freed at exit */
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (!cs || ep < 0)
		return 1;
	char hdr[512];
	size_t hdr_len = (size_t)header(&o, hdr, sizeof hdr);
	for (int i = 0; i < o.n; i++)
		cs[i].fd = -2; /* not connected yet */
	long before = rss_kib(o.pid), peak = before;
	uint64_t start = now_ms(), end = start + (uint64_t)o.timeout_s * 1000, next_rss = start;
	int started = 0, open = 0;
	struct epoll_event evs[256];
	while (now_ms() < end && (started < o.n || open > 0)) {
		uint64_t now = now_ms();
		/* Connections open at --rate per second, so the accept queue keeps up. */
		int due = (int)((now - start) * (uint64_t)o.rate / 1000) + 1;
		for (; started < o.n && started < due; started++)
			if (connect_one(&o, &cs[started], ep, (unsigned)started) == 0)
				open++;
			else
				cs[started].end = E_REFUSED, cs[started].fd = -1;
		int k = epoll_wait(ep, evs, 256, 10);
		for (int i = 0; i < k; i++) {
			struct hconn *c = &cs[evs[i].data.u32];
			if (c->fd >= 0)
				on_event(&o, ep, cs, c, evs[i].events, hdr, hdr_len, &open);
		}
		for (int i = 0; i < started; i++) /* slowloris bytes falling due */
			if (cs[i].kind == K_SLOW && cs[i].fd >= 0 && cs[i].connected &&
			    cs[i].next_ms <= now && pump(&o, &cs[i], hdr_len, hdr) < 0)
				finish(ep, &cs[i], E_CLOSED, &open);
		if (now >= next_rss) {
			long r = rss_kib(o.pid);
			peak = r > peak ? r : peak;
			next_rss = now + 100;
		}
	}
	int left = 0;
	for (int i = 0; i < o.n; i++)
		if (cs[i].fd >= 0) {
			left++;
			close(cs[i].fd); /* still open at the timeout: E_OPEN */
		}
	usleep(500000); /* let the cm release what the last closes held */
	report(&o, cs, hdr_len, before, peak, rss_kib(o.pid), (double)(now_ms() - start) / 1000.0);
	free(cs);
	close(ep);
	return left ? 1 : 0;
}
