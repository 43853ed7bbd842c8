/* link: one backend link to a starling-cm (docs/link-protocol.md).  Input is
 * parsed frame by frame; everything the core produces during one loop turn
 * is appended to the link's output batch and written once (link_flush). */
#ifndef STARLING_CORE_LINK_H
#define STARLING_CORE_LINK_H
#include <stdint.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/linkack.h"
#include "session.h"

struct core;
struct wire_frame;

/* A link whose peer does not read is cut rather than buffered without end. */
#define LINK_OUT_MAX (64u << 20)

struct link {
	struct link *next; /* in core->links */
	int fd;		   /* -1 for an in-memory link (unit tests) */
	uint8_t hello_rx;  /* the peer's HELLO arrived */
	uint8_t dead;	   /* close at the end of this loop turn */
	uint8_t out_armed; /* EPOLLOUT is registered */
	uint8_t admin;	   /* accepted on the control socket: starlingctl, no cm */
	uint8_t parking;   /* the core's own link of parked sessions (park.c): no peer */
	struct buf in, out;
	/* Destinations of the multicast being built (router_mcast_*): the
	 * encoded (sid, to) pairs of the STANZA_MULTI frame this link gets. */
	struct buf mc;
	uint32_t mc_n;
	struct link *mc_next; /* in core->mc_links while mc_n > 0 */
	struct sid_table sids;
	struct buf cm_report; /* the cm worker's last figures (stats.c) */
	struct linkack ack;   /* stanza frames counted and kept (lib/linkack.h) */
	uint64_t frames_in, bytes_in, bytes_out; /* for /metrics */
	char peer[64]; /* for log lines */
	char name[64]; /* from the peer's HELLO, [A-Za-z0-9/._-] only ("starling-cm/PID/W") */
};

/* Creates a link for an accepted socket (or fd -1) and queues our HELLO.
 * Returns NULL on ENOMEM. */
struct link *link_new(struct core *c, int fd, const char *peer);
/* Reads what the socket has and processes complete frames. */
void link_on_readable(struct core *c, struct link *l);
/* Processes bytes as if read from the peer (also used by unit tests). */
void link_feed(struct core *c, struct link *l, const void *data, size_t len);
/* Writes the output batch; arms EPOLLOUT when the socket is full. */
void link_flush(struct core *c, struct link *l);
/* The frames appended to l->out after its first `before` bytes are kept
 * until the cm counts them (lib/linkack.h); a failure fails the link. */
void link_keep(struct link *l, size_t before);
/* Ends every session on l as a disconnect, closes the fd, frees l. */
void link_close(struct core *c, struct link *l);
/* Ends s with unavailable presence (how: for the debug log). */
void link_session_end(struct core *c, struct session *s, const char *how);
/* Admin frames, control socket only (control.c dispatches them). */
void link_on_revoke(struct core *c, struct link *l, const struct wire_frame *f);
/* A cm worker's link: HELLO done under a cm's name ("starling-cm/PID/W"). */
static inline int link_is_cm(const struct link *l)
{
	return l->hello_rx && !strncmp(l->name, "starling-cm/", 12);
}
/* PING: answered with a PONG carrying its token; a malformed one ends the link. */
void link_on_ping(struct link *l, const struct wire_frame *f);
void link_on_stats_req(struct core *c, struct link *l, const struct wire_frame *f);
/* Marks l for closing at the end of the turn, with a reason for the log. */
void link_fail(struct link *l, const char *why);

#endif
