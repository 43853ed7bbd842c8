/* shape: per-connection read-rate shaping (issue 9).  Each connection has a
 * token bucket of [c2s] read_burst bytes refilled at read_rate bytes/s, kept
 * in 8 bytes of struct conn and refilled lazily from the time elapsed.  A
 * connection that goes below zero stops being read, as for backpressure:
 * its multishot receive is cancelled and the once-a-second tick re-arms it
 * when its bucket is back to zero or more.  A flood therefore costs us at
 * most read_rate bytes/s of parsing per connection, and what it sent waits
 * in the kernel's socket buffer, then in the client's. */
#ifndef STARLING_CM_SHAPE_H
#define STARLING_CM_SHAPE_H
#include <stddef.h>

struct worker;
struct conn;

/* A new connection starts with a full bucket. */
void shape_init(struct worker *w, struct conn *c);
/* c delivered n bytes; stops reading it when that overdraws its bucket. */
void shape_charge(struct worker *w, struct conn *c, size_t n);
/* Bytes a client may still send after our close (conn_linger) before it is
 * cut at the next tick: enough for what was in flight, while a flood that
 * goes on costs us no more than this to read and discard. */
#define SHAPE_LINGER_BYTES 4096
void shape_linger(struct conn *c);
/* Once a second: re-arm the shaped connections whose bucket refilled, and
 * cut those that overdrew their allowance after our close. */
void shape_tick(struct worker *w);

#endif
