/* provision: bulk bench accounts for load tests.  Speed comes from two
 * choices: one store transaction for everything (one fsync instead of one per
 * row) and one SCRAM derivation shared by every account (PBKDF2 per account
 * would cost minutes for 10,000).  The shared salt is why this is for bench
 * accounts only: one leaked verifier covers them all. */
#include "provision.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/digest_md5.h"

/* The prepared localparts, indexed by account (0 = number first). */
struct provision_names {
	struct buf pool; /* NUL-terminated names back to back; owned */
	uint32_t *off;	 /* n offsets into pool (BUF_MAX < 2^32); owned */
};

static int parse_error(const char *what, const char *arg)
{
	fprintf(stderr, "starlingctl: provision: %s%s%s\n", arg ? arg : "", arg ? ": " : "", what);
	return -EINVAL;
}

/* Splits pat at its one %d.  %% is a literal %; any other % is refused, so
 * nothing printf-like reaches the names beyond the account number. */
static int parse_pattern(const char *pat, struct provision_spec *sp)
{
	char *out = sp->prefix;
	size_t len = 0, total = 0;
	int have_d = 0;
	for (const char *p = pat; *p; p++) {
		if (*p == '%' && p[1] == 'd' && !have_d) {
			out[len] = 0;
			out = sp->suffix;
			len = 0;
			have_d = 1;
			p++;
			continue;
		}
		if (*p == '%' && p[1] != '%')
			return parse_error("PATTERN needs exactly one %d (and %% for a '%')", pat);
		p += *p == '%';
		if (++total > JID_PART_MAX)
			return parse_error("PATTERN too long", pat);
		out[len++] = *p;
	}
	out[len] = 0;
	if (!have_d)
		return parse_error("PATTERN needs exactly one %d (and %% for a '%')", pat);
	return 0;
}

/* Decimal digits only: strtoul alone would take signs, spaces and "0x". */
static int parse_count(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	if (!*s || strspn(s, "0123456789") != strlen(s))
		return -EINVAL;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* "--name VALUE" (*val = NULL: the value is the next argument) or "--name=VALUE". */
static int is_option(const char *arg, const char *name, const char **val)
{
	size_t nl = strlen(name);
	if (strncmp(arg, name, nl) || (arg[nl] && arg[nl] != '='))
		return 0;
	*val = arg[nl] ? arg + nl + 1 : NULL;
	return 1;
}

/* Sorts argv into the three positionals and the option values.  Options may
 * come anywhere; "--" ends them (for a password that looks like one). */
static int split_args(int argc, char **argv, const char *pos[3], const char **first,
		      const char **contacts)
{
	int npos = 0, opts = 1;
	for (int i = 1; i < argc; i++) {
		const char **slot = NULL, *val = NULL;
		if (opts && !strcmp(argv[i], "--")) {
			opts = 0;
			continue;
		}
		if (opts && is_option(argv[i], "--first", &val))
			slot = first;
		else if (opts && is_option(argv[i], "--contacts", &val))
			slot = contacts;
		if (!slot) {
			if (npos == 3)
				return parse_error("too many arguments", argv[i]);
			pos[npos++] = argv[i];
			continue;
		}
		if (!val && ++i == argc)
			return parse_error("needs a value", argv[i - 1]);
		*slot = val ? val : argv[i];
	}
	return npos == 3 ? 0 : parse_error("needs PATTERN N PASSWORD", NULL);
}

int provision_parse(int argc, char **argv, struct provision_spec *sp)
{
	const char *pos[3], *first = "1", *contacts = "0";
	memset(sp, 0, sizeof *sp);
	if (split_args(argc, argv, pos, &first, &contacts) || parse_pattern(pos[0], sp))
		return -EINVAL;
	if (parse_count(pos[1], PROVISION_MAX_ACCOUNTS, &sp->n) || !sp->n)
		return parse_error("N must be 1 .. 1000000", pos[1]);
	sp->password = pos[2];
	if (parse_count(first, ULONG_MAX - (sp->n - 1), &sp->first))
		return parse_error("--first must be a number (account numbers must not overflow)",
				   first);
	if (parse_count(contacts, sp->n - 1, &sp->contacts) || sp->contacts % 2)
		return parse_error("--contacts must be even and less than N", contacts);
	return 0;
}

static const char *name_at(const struct provision_names *nm, unsigned long i)
{
	return nm->pool.data + nm->off[i];
}

static void names_free(struct provision_names *nm)
{
	buf_free(&nm->pool);
	free(nm->off);
}

/* Nodeprep every generated localpart up front (RFC 7622 §3.3), as adduser
 * does for one, so a bad pattern fails before the store is touched.  The
 * names kept are the bare JIDs in domain: the store's keys. */
static int names_make(const struct provision_spec *sp, const char *domain,
		      struct provision_names *nm)
{
	char raw[2 * JID_PART_MAX + 32], prep[JID_PART_MAX + 1];
	memset(nm, 0, sizeof *nm);
	nm->off = calloc(sp->n, sizeof *nm->off); /* names_free() */
	if (!nm->off)
		return -ENOMEM;
	for (unsigned long i = 0; i < sp->n; i++) {
		int len = snprintf(raw, sizeof raw, "%s%lu%s", sp->prefix, sp->first + i,
				   sp->suffix);
		if (len < 0 || (size_t)len >= sizeof raw ||
		    jid_prep_local(raw, prep, sizeof prep)) {
			fprintf(stderr, "starlingctl: provision: %s: invalid localpart\n", raw);
			names_free(nm);
			return -EINVAL;
		}
		nm->off[i] = nm->pool.len;
		if (buf_append(&nm->pool, prep, strlen(prep)) || buf_append(&nm->pool, "@", 1) ||
		    buf_append(&nm->pool, domain, strlen(domain) + 1)) {
			names_free(nm);
			return -ENOMEM;
		}
	}
	return 0;
}

int provision_set_digest(struct store *st, const char *user, const char *password)
{
	char local[JID_PART_MAX + 1];
	const char *at = strchr(user, '@');
	uint8_t urp[DIGEST_MD5_URP_LEN];
	if (!at || (size_t)(at - user) >= sizeof local)
		return -EINVAL;
	memcpy(local, user, (size_t)(at - user));
	local[at - user] = 0;
	/* The username a client sends is the account's localpart, the realm
	 * the stream's domain (cm/auth.c checks both). */
	int rc = digest_md5_urp(local, at + 1, password, urp);
	if (!rc)
		rc = store_user_set_digest(st, user, urp);
	memset(urp, 0, sizeof urp);
	return rc;
}

/* Idempotent: an existing account keeps its roster and gets the new creds. */
static int put_accounts(struct store *st, const struct provision_names *nm, unsigned long n,
			const struct scram_creds creds[2], const char *digest_password,
			int (*replaced)(void *ctx, const char *user), void *ctx)
{
	for (unsigned long i = 0; i < n; i++) {
		const char *user = name_at(nm, i);
		int rc = store_user_add(st, user, creds);
		if (rc == -EEXIST) {
			rc = store_user_set_creds(st, user, creds);
			if (!rc && replaced)
				rc = replaced(ctx, user);
		}
		if (!rc && digest_password)
			rc = provision_set_digest(st, user, digest_password);
		if (rc)
			return rc;
	}
	return 0;
}

/* Account i gets (i + d) mod n for d = ±1 .. ±contacts/2: distinct and never
 * i itself since contacts < n, and mutual because d and -d are both there.
 * Subscription both with nothing pending (RFC 6121 §2.1.2.5), so presence
 * flows as soon as both log in.  store_roster_put replaces an existing item. */
static int put_rosters(struct store *st, const struct provision_spec *sp,
		       const struct provision_names *nm)
{
	char group[] = "bench";
	struct store_item it = {.groups = group, .sub = STORE_SUB_BOTH};
	unsigned long n = sp->n;
	for (unsigned long i = 0; i < n; i++) {
		for (unsigned long k = 0; k < sp->contacts; k++) {
			unsigned long h = k / 2 + 1;
			/* names are bare JIDs already; the item does not own it */
			it.contact = (char *)name_at(nm, k % 2 ? (i + h) % n : (i + n - h) % n);
			int rc = store_roster_put(st, name_at(nm, i), &it);
			if (rc)
				return rc;
		}
	}
	return 0;
}

int provision_run(struct store *st, const char *domain, const struct provision_spec *sp,
		  const struct scram_creds creds[2], const char *digest_password,
		  int (*replaced)(void *ctx, const char *user), void *ctx)
{
	struct provision_names nm;
	int rc = names_make(sp, domain, &nm);
	if (rc == -ENOMEM)
		fprintf(stderr, "starlingctl: provision: out of memory\n");
	if (rc)
		return rc;
	rc = store_begin(st);
	if (!rc) {
		rc = put_accounts(st, &nm, sp->n, creds, digest_password, replaced, ctx);
		if (!rc)
			rc = put_rosters(st, sp, &nm);
		if (rc)
			store_rollback(st);
		else
			rc = store_commit(st); /* rolls back itself on failure */
	}
	if (rc)
		fprintf(stderr, "starlingctl: provision: %s; nothing was changed\n",
			rc == -ENOMEM ? "out of memory" : "database error");
	else
		printf("provision: %lu accounts (%.*s..%s), %lu contacts each\n", sp->n,
		       (int)strcspn(name_at(&nm, 0), "@"), name_at(&nm, 0), name_at(&nm, sp->n - 1),
		       sp->contacts);
	names_free(&nm);
	return rc;
}
