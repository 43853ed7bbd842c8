/* jid: JID parsing, preparation and formatting (RFC 7622; the preparation
 * uses libidn's XMPP stringprep profiles: Nodeprep, Resourceprep, Nameprep,
 * as most deployed servers still do). */
#ifndef STARLING_JID_H
#define STARLING_JID_H
#include <stddef.h>

#define JID_PART_MAX 1023 /* RFC 7622 §3.1: each part 1..1023 octets */

struct jid {
	char *local;	/* NULL when absent */
	char *domain;	/* never NULL for a parsed JID */
	char *resource; /* NULL when absent */
	char *mem;	/* owns the three strings */
};

/* Parse and prepare s.  Returns 0, -EINVAL (malformed or fails preparation:
 * the stanza error is <jid-malformed/>), -ENOMEM. */
int jid_parse(const char *s, struct jid *j);
void jid_free(struct jid *j);

/* Prepare one part into out (NUL-terminated).  Return 0, -EINVAL, -ENOMEM,
 * -ENAMETOOLONG when it does not fit in cap. */
int jid_prep_local(const char *in, char *out, size_t cap);
int jid_prep_domain(const char *in, char *out, size_t cap);
int jid_prep_resource(const char *in, char *out, size_t cap);

/* Formatting: malloc'd strings, NULL on ENOMEM. */
char *jid_bare(const struct jid *j); /* local@domain or domain */
char *jid_full(const struct jid *j); /* with /resource when present */

#endif
