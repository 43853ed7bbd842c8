/* throttle: failed logins per source address (issue 9).  After
 * auth_failures_per_address wrong passwords from one address within
 * auth_failure_window seconds, that address's logins are refused without
 * looking at the password until the window ends, so guessing costs an
 * attacker the window, not a SCRAM round trip.  Kept per worker (no lock on
 * the login path); connections from one address are spread over the workers
 * by SO_REUSEPORT, so the effective limit is up to workers x the setting. */
#ifndef STARLING_CM_THROTTLE_H
#define STARLING_CM_THROTTLE_H
#include "conn.h"

/* Slots per worker: an address table that forgets the oldest entries. */
#define THROTTLE_SLOTS 4096

/* 1 when c's address is over the limit now. */
int throttle_blocked(struct worker *w, const struct conn *c);
/* A wrong password came from c's address. */
void throttle_failed(struct worker *w, const struct conn *c);
void throttle_free(struct worker *w);

#endif
