#include "jid.h"
#include "utf8.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stringprep.h>

/* Bound on a part before preparation, so hostile input costs little work;
 * preparation rarely shrinks text, and never legitimately by 4x. */
#define JID_RAW_MAX (4 * JID_PART_MAX)

/* What Nodeprep, Nameprep and Resourceprep do to printable ASCII (0x21-0x7e):
 * the first two fold A-Z to a-z (RFC 3454 table B.2), Nodeprep also prohibits
 * "&'/:<>@ (RFC 3920 appendix A.5), and nothing else applies (NFKC, bidi and
 * the other prohibitions only concern other characters).  Almost every JID is
 * such ASCII, and libidn's general path costs more than routing the stanza;
 * anything else goes to libidn, and tests/fuzz/fuzz_jid.c checks the two agree.
 * Returns 1 when handled (result in *rc), 0 to defer to libidn. */
enum prep_profile { PREP_NODE, PREP_NAME, PREP_RESOURCE };
static const char *const prep_names[] = {"Nodeprep", "Nameprep", "Resourceprep"};

static int prep_ascii(const char *in, size_t n, enum prep_profile profile, char **out, int *rc)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)in[i] < 0x21 || (unsigned char)in[i] > 0x7e)
			return 0;
	int node = profile == PREP_NODE, fold = profile != PREP_RESOURCE;
	for (size_t i = 0; node && i < n; i++) {
		if (strchr("\"&'/:<>@", in[i])) {
			*rc = -EINVAL;
			return 1;
		}
	}
	*out = malloc(n + 1);
	if (!*out) {
		*rc = -ENOMEM;
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		(*out)[i] = (char)(fold && in[i] >= 'A' && in[i] <= 'Z' ? in[i] + 32 : in[i]);
	(*out)[n] = 0;
	*rc = n > JID_PART_MAX ? -EINVAL : 0;
	if (*rc) {
		free(*out);
		*out = NULL;
	}
	return 1;
}

/* Apply a stringprep profile to in[0..n).  Unassigned code points are allowed
 * (query semantics, as deployed servers do) so that e.g. emoji resources work.
 * *out is malloc'd; the caller frees it. */
static int prep(const char *in, size_t n, enum prep_profile profile, char **out)
{
	*out = NULL;
	int rc;
	if (n && n <= JID_RAW_MAX && prep_ascii(in, n, profile, out, &rc))
		return rc;
	if (!n || n > JID_RAW_MAX || !utf8_valid(in, n) || memchr(in, 0, n))
		return -EINVAL;
	char *tmp = strndup(in, n);
	if (!tmp)
		return -ENOMEM;
	rc = stringprep_profile(tmp, out, prep_names[profile], 0);
	free(tmp);
	if (rc == STRINGPREP_MALLOC_ERROR)
		return -ENOMEM;
	if (rc != STRINGPREP_OK)
		return -EINVAL;
	/* RFC 7622 §3.1: every part is 1..1023 octets after preparation. */
	size_t len = strlen(*out);
	if (!len || len > JID_PART_MAX) {
		free(*out);
		*out = NULL;
		return -EINVAL;
	}
	return 0;
}

/* Nameprep leaves ASCII alone apart from case, so the DNS rules are checked
 * here: letters, digits, '-', '_' (common in internal names), and non-empty
 * labels.  This rejects spaces, controls, ':' and the like. */
static int domain_chars_ok(const char *d)
{
	char prev = '.';
	for (const unsigned char *p = (const unsigned char *)d; *p; p++) {
		if (*p == '.' && prev == '.')
			return 0;
		if (*p < 0x80 && *p != '.' && *p != '-' && *p != '_' &&
		    !((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
			return 0;
		prev = (char)*p;
	}
	return prev != '.';
}

/* RFC 7622 §3.2.1: an IPv6 literal in brackets is kept as it is. */
static int ip6_literal(const char *in, size_t n, char **out)
{
	char a[INET6_ADDRSTRLEN];
	struct in6_addr addr;
	*out = NULL;
	if (n < 4 || in[n - 1] != ']' || n - 2 >= sizeof a)
		return -EINVAL;
	memcpy(a, in + 1, n - 2);
	a[n - 2] = 0;
	if (inet_pton(AF_INET6, a, &addr) != 1)
		return -EINVAL;
	*out = strndup(in, n);
	return *out ? 0 : -ENOMEM;
}

/* Dotted IPv4 literals pass through Nameprep unchanged (digits and dots). */
static int prep_domain(const char *in, size_t n, char **out)
{
	*out = NULL;
	/* RFC 7622 §3.2: a trailing label separator is stripped. */
	if (n && in[n - 1] == '.')
		n--;
	if (!n)
		return -EINVAL;
	if (in[0] == '[')
		return ip6_literal(in, n, out);
	int rc = prep(in, n, PREP_NAME, out);
	if (!rc && !domain_chars_ok(*out)) {
		free(*out);
		*out = NULL;
		rc = -EINVAL;
	}
	return rc;
}

/* One allocation holds the three strings: jid_free() releases it. */
static int jid_pack(struct jid *j, const char *local, const char *domain, const char *res)
{
	size_t ln = local ? strlen(local) + 1 : 0, dn = strlen(domain) + 1;
	size_t rn = res ? strlen(res) + 1 : 0;
	char *m = malloc(ln + dn + rn);
	if (!m)
		return -ENOMEM;
	j->mem = m;
	if (local)
		j->local = memcpy(m, local, ln);
	j->domain = memcpy(m + ln, domain, dn);
	if (res)
		j->resource = memcpy(m + ln + dn, res, rn);
	return 0;
}

int jid_parse(const char *s, struct jid *j)
{
	char *local = NULL, *domain = NULL, *res = NULL;
	memset(j, 0, sizeof *j);
	if (!s)
		return -EINVAL;
	/* RFC 7622 §3.1: the resource starts at the first '/', the local part ends
	 * at the first '@' before it; a part that is present must not be empty. */
	size_t n = strlen(s);
	const char *slash = memchr(s, '/', n);
	size_t dend = slash ? (size_t)(slash - s) : n;
	const char *at = memchr(s, '@', dend);
	const char *d = at ? at + 1 : s;
	int rc = at ? prep(s, (size_t)(at - s), PREP_NODE, &local) : 0;
	if (!rc)
		rc = prep_domain(d, (size_t)(s + dend - d), &domain);
	if (!rc && slash)
		rc = prep(slash + 1, n - dend - 1, PREP_RESOURCE, &res);
	if (!rc)
		rc = jid_pack(j, local, domain, res);
	free(local);
	free(domain);
	free(res);
	return rc;
}

void jid_free(struct jid *j)
{
	free(j->mem);
	memset(j, 0, sizeof *j);
}

/* Copies p (then frees it) into out[cap]. */
static int copy_out(int rc, char *p, char *out, size_t cap)
{
	if (rc)
		return rc;
	size_t n = strlen(p);
	if (n >= cap)
		rc = -ENAMETOOLONG;
	else
		memcpy(out, p, n + 1);
	free(p);
	return rc;
}

int jid_prep_local(const char *in, char *out, size_t cap)
{
	char *p = NULL;
	if (!in)
		return -EINVAL;
	int rc = prep(in, strlen(in), PREP_NODE, &p);
	return copy_out(rc, p, out, cap);
}

int jid_prep_domain(const char *in, char *out, size_t cap)
{
	char *p = NULL;
	if (!in)
		return -EINVAL;
	int rc = prep_domain(in, strlen(in), &p);
	return copy_out(rc, p, out, cap);
}

int jid_prep_resource(const char *in, char *out, size_t cap)
{
	char *p = NULL;
	if (!in)
		return -EINVAL;
	int rc = prep(in, strlen(in), PREP_RESOURCE, &p);
	return copy_out(rc, p, out, cap);
}

/* local@domain/resource with the parts present; malloc'd, caller frees.
 * memcpy rather than asprintf: this runs for every routed stanza. */
static char *jid_format(const struct jid *j, int with_resource)
{
	size_t ln = j->local ? strlen(j->local) : 0, dn = strlen(j->domain);
	size_t rn = with_resource && j->resource ? strlen(j->resource) : 0;
	char *s = malloc(ln + 1 + dn + 1 + rn + 1), *p = s;
	if (!s)
		return NULL;
	if (j->local) {
		memcpy(p, j->local, ln);
		p += ln;
		*p++ = '@';
	}
	memcpy(p, j->domain, dn);
	p += dn;
	if (rn) {
		*p++ = '/';
		memcpy(p, j->resource, rn);
		p += rn;
	}
	*p = 0;
	return s;
}

char *jid_bare(const struct jid *j) { return jid_format(j, 0); }

char *jid_full(const struct jid *j) { return jid_format(j, 1); }
