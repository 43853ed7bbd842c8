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

/* Append ' xmlns="href"' (or ' xmlns:prefix="href"'), href as libxml2
 * hands it over (an '&' as "&#38;").  Returns 0 or -ENOMEM. */
int stanza_put_ns(struct buf *out, const xmlChar *prefix, const char *href);

/* 1 when bytes start as one element does, after white space at most: no
 * XML declaration, PI, comment or DTD before it (RFC 6120 §11.1; the raw
 * content copy of stanza_serialize() relies on it). */
int stanza_prolog_ok(const char *bytes, size_t len);

/* What the root's start tag gives the header (libxml2's SAX2
 * startElementNs arguments: attrs holds five pointers an attribute, its
 * value as a range).  Returns 0 or -ENOMEM (stanza_head.c). */
int stanza_head_root(struct stanza *s, const xmlChar *local, const xmlChar *prefix,
		     const xmlChar *uri, int nb_ns, const xmlChar **ns, int nb_attrs,
		     const xmlChar **attrs);

/* stanza_parse_head() for the plain shape of a stanza, without libxml2
 * (stanza_fast.c): 1 when it parsed s (zeroed by the caller; raw not set),
 * 0 when libxml2 must decide (s untouched), -ENOMEM. */
int stanza_head_fast(const char *bytes, size_t len, struct stanza *s);
/* stanza_parse_head() through libxml2 alone: the path for what the fast one
 * leaves, and the reference the tests hold it to. */
int stanza_head_libxml(const char *bytes, size_t len, struct stanza *s);

#endif
