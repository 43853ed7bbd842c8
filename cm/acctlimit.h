/* acctlimit: failed logins per account, for the whole process (issue 9).
 * After auth_failures_per_account wrong passwords for one account within
 * auth_failure_window seconds, logins to that account are refused with
 * <temporary-auth-failure/> before its credentials are fetched, so a guesser
 * spread over many addresses (which the per-address throttle cannot see)
 * gets a few guesses per window.  Process-wide rather than per worker: the
 * guesser's connections land on every worker.  The cm rather than the core:
 * only the cm learns whether a password was right (the core hands out the
 * stored keys), and it can refuse before asking the core at all. */
#ifndef STARLING_CM_ACCTLIMIT_H
#define STARLING_CM_ACCTLIMIT_H
#include <stdint.h>

/* Entries: accounts with recent failures; the oldest are forgotten first. */
#define ACCTLIMIT_SLOTS 16384

struct acctlimit;

/* NULL when max is 0 (off).  Owned by the caller: acctlimit_free. */
struct acctlimit *acctlimit_new(unsigned max, unsigned window_s);
void acctlimit_free(struct acctlimit *l);
/* 1 when the account (its bare JID) is over the limit at now_ms. */
int acctlimit_blocked(struct acctlimit *l, const char *jid, uint64_t now_ms);
/* A wrong password for jid; 1 when this one reached the limit. */
int acctlimit_failed(struct acctlimit *l, const char *jid, uint64_t now_ms);

#endif
