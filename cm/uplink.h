/* uplink: a worker's link to the core (docs/link-protocol.md).  Frames for
 * the core are appended to `out` during a loop turn and sent in one write at
 * its end; frames from the core are parsed from `in` and dispatched to the
 * connections they name. */
#ifndef STARLING_CM_UPLINK_H
#define STARLING_CM_UPLINK_H
#include <stdint.h>

#include "lib/buf.h"
#include "lib/linkack.h"
#include "lib/wire.h"

struct worker;
struct conn;

struct uplink {
	int fd;
	int up;		   /* HELLO received */
	/* Lost: clients are not read, logins wait; the tick reconnects once
	 * nothing in flight names the old socket (uplink_retry). */
	int down;
	unsigned backoff_ms;  /* before the next attempt; doubles up to 5 s */
	uint64_t retry_at_ms;
	int send_busy;	   /* a send of `sending` is in flight */
	int recv_armed;
	struct buf in;	   /* received bytes not yet parsed */
	struct buf out;	   /* frames of this turn */
	struct buf sending;
	struct linkack ack; /* stanza frames counted and kept (lib/linkack.h) */
	/* Round trip to the core: a PING each tick, timed by its PONG. */
	uint32_t ping_token;
	uint64_t ping_sent_ns; /* 0: none outstanding */
	uint64_t rtt_ns;       /* the last one measured; read by the metrics (relaxed) */
};

/* Connect to cfg->link_address (blocking, with retries for a few seconds) and
 * queue HELLO. Returns 0 or -errno. */
int uplink_connect(struct worker *w);
/* Queue HELLO, naming this worker. */
int uplink_hello(struct worker *w);
void uplink_arm_recv(struct worker *w);
void uplink_on_recv(struct worker *w, int res);
void uplink_on_send(struct worker *w, int res);
void uplink_flush(struct worker *w);
/* The configuration file the cm started with (main sets it): a RELOAD
 * frame makes each worker read it again for the keys it applies live. */
extern const char *uplink_config_path;
/* Queues SESSION_OPEN for c's full JID with the client's address (link
 * version 5).  Returns 0 or -ENOMEM. */
int uplink_session_open(struct worker *w, struct conn *c, const char *full);
/* Frames waiting for the core above the high-water mark: stop reading clients. */
int uplink_backed_up(struct worker *w);
/* Queue this worker's figures for `starlingctl status` (WIRE_CM_STATS);
 * called each tick once the link is up. */
void uplink_report(struct worker *w);
void uplink_free(struct uplink *l);

#endif
