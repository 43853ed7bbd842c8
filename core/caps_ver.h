/* caps_ver: XEP-0115 §5 verification strings.  A client's presence carries
 * only the hash of its disco#info ('ver', §4); before the hash may stand for
 * the capabilities of every entity that sends it, the disco#info result it
 * names must be fetched once and hashed again here (§5.4), which also tells
 * the results that must never be cached under a hash from those that may. */
#ifndef STARLING_CORE_CAPS_VER_H
#define STARLING_CORE_CAPS_VER_H
#include <libxml/tree.h>

#define CAPS_VER_LEN 28 /* base64 of a SHA-1 digest */

/* The verification string (§5.1) of a disco#info
 * <query xmlns='http://jabber.org/protocol/disco#info'/> element, hashed with
 * SHA-1 and base64-encoded into out (NUL-terminated; the empty string on error).
 * The tree is only read.  Returns 0; -EINVAL when query is no disco#info query or
 * when §5.4 says the result must not be trusted for caching: two identities with
 * the same category/type/lang/name, two features with the same var, two extended
 * forms with the same FORM_TYPE, a FORM_TYPE with several different values, and,
 * where the spec cannot be followed as written: an identity without category or
 * type or a feature without var (XEP-0030 §3.1 requires them), a FORM_TYPE field
 * with no value, two fields of one form with the same var (FORM_TYPE included),
 * a field without var.  An extended form whose FORM_TYPE field is not of type
 * hidden, or that has none, is left out of the hash as §5.4 step 3.6 says, and
 * is no error; so is a jabber:x:data <x/> not of type result (no XEP-0128
 * extended information).  -ENOMEM when memory (or OpenSSL) fails. */
int caps_ver_sha1(xmlNodePtr query, char out[CAPS_VER_LEN + 1]);

#endif
