/* stanza_priv: what lib/stanza.c and lib/stanza_head.c share; not an API. */
#ifndef STARLING_STANZA_PRIV_H
#define STARLING_STANZA_PRIV_H
#include "stanza.h"

/* RFC 6120 §11.1, §11.6: UTF-8 only, no network, no entity expansion (no
 * XML_PARSE_NOENT), no DTD loading; CDATA becomes plain text so that the
 * serialised form is canonical. */
#define STANZA_PARSE_OPTS                                                                          \
	(XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA)

/* The kind of a root with this namespace (NULL: none) and local name. */
enum stanza_kind stanza_kind_of(const char *ns, const char *name);

/* Append ' prefix:name="value"' (prefix may be NULL), value escaped so that
 * it reparses to the same bytes.  Returns 0 or -ENOMEM. */
int stanza_put_attr(struct buf *out, const xmlChar *prefix, const char *name, const char *value,
		    size_t value_len);

#endif
