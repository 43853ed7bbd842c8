/* provision: bulk accounts and rosters for load tests (starlingctl
 * provision).  Bench accounts only: every account gets the SAME SCRAM
 * credentials (one salt), which no real deployment should want. */
#ifndef STARLING_CTL_PROVISION_H
#define STARLING_CTL_PROVISION_H
#include <stddef.h>

#include "core/store.h"
#include "lib/jid.h"
#include "lib/scram.h"

#define PROVISION_MAX_ACCOUNTS 1000000

struct provision_spec {
	/* The pattern split at its %d, each side with %% already unescaped. */
	char prefix[JID_PART_MAX + 1];
	char suffix[JID_PART_MAX + 1];
	const char *password; /* the argument as given ('-' = read stdin); not owned */
	unsigned long n;      /* accounts, 1..PROVISION_MAX_ACCOUNTS */
	unsigned long first;  /* number of the first account (K) */
	unsigned long contacts; /* per account; even and < n */
};

/* Parses "PATTERN N PASSWORD [--first K] [--contacts C]" (argv[0] is the
 * command name).  Returns 0, or -EINVAL with the reason on stderr (a usage
 * error: nothing has been touched). */
int provision_parse(int argc, char **argv, struct provision_spec *sp);

/* Creates (or, when they exist, sets the credentials of) the accounts and
 * writes their bench rosters, all in one store transaction: either every
 * change is committed or none.  creds (SHA-1 and SHA-256) go to every
 * account, and, when digest_password is not NULL, each account's
 * DIGEST-MD5 hash of it.  replaced, when not NULL, is called for each account that existed
 * before (its credentials changed); a non-zero return aborts.  Prints the
 * summary line on stdout on success, the reason on stderr on failure.
 * Returns 0 or a negative errno. */
int provision_run(struct store *st, const char *domain, const struct provision_spec *sp,
		  const struct scram_creds creds[2], const char *digest_password,
		  int (*replaced)(void *ctx, const char *user), void *ctx);

/* [c2s] digest_md5: stores the DIGEST-MD5 hash of password for the account
 * user ("local@domain"; RFC 2831 realm = its domain) after its SCRAM
 * credentials were written (which dropped any older hash).  Shared by
 * adduser, passwd and provision.  0 or a negative errno. */
int provision_set_digest(struct store *st, const char *user, const char *password);

#endif
