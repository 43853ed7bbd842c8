/* mhttp: the smallest HTTP/1.x server that serves a Prometheus scrape
 * (GET /metrics), driven by whatever event loop its process has: the caller
 * watches the fds and calls in when one is ready; nothing here blocks.
 * Hostile peers get bounded memory and time: a request over
 * MHTTP_MAX_REQUEST bytes, one not complete within MHTTP_DEADLINE_MS or not
 * HTTP is answered with an error and closed, and past MHTTP_MAX_CONNS
 * connections new ones are closed at once.  One request per connection. */
#ifndef STARLING_MHTTP_H
#define STARLING_MHTTP_H
#include <stdint.h>

#include "lib/buf.h"

#define MHTTP_MAX_CONNS   8
#define MHTTP_MAX_REQUEST 8192
#define MHTTP_DEADLINE_MS 3000

/* Appends the exposition text to out. Returns 0 or -ENOMEM. */
typedef int (*mhttp_render_fn)(void *ctx, struct buf *out);

struct mhttp_conn {
	int fd;       /* -1 = free slot */
	uint32_t gen; /* bumped on close: stale completions name an old one */
	uint64_t deadline_ms;
	uint32_t in_len;
	char *in;       /* MHTTP_MAX_REQUEST bytes while reading the request; owned */
	struct buf out; /* the response while it is written */
};

struct mhttp {
	int lfd; /* -1 = disabled */
	mhttp_render_fn render;
	void *ctx;
	struct mhttp_conn c[MHTTP_MAX_CONNS];
	uint64_t n_requests, n_refused; /* answered; closed at once (over the cap) */
	/* accept() failed for want of a descriptor or memory: the listener is
	 * still readable, so its driver waits a while (a tick) before watching
	 * it again, instead of spinning. */
	int accept_failed;
};

/* addr "HOST:PORT" or "" (disabled).  Returns 0 or -errno. */
int mhttp_open(struct mhttp *m, const char *addr, mhttp_render_fn render, void *ctx);
/* The listener is readable: accept what waits.  Returns a bit per slot
 * opened (the caller starts watching those fds). */
unsigned mhttp_accept(struct mhttp *m, uint64_t now_ms);
/* Slot i's fd is ready: read, answer, write.  Returns the poll events it
 * waits for next (POLLIN or POLLOUT), or 0 when the connection closed. */
unsigned mhttp_step(struct mhttp *m, unsigned i, uint64_t now_ms);
/* Close the connections past their deadline. */
void mhttp_expire(struct mhttp *m, uint64_t now_ms);
int mhttp_busy(const struct mhttp *m); /* any connection open */
void mhttp_close(struct mhttp *m);

#endif
