/* stanza: the parsed form of one top-level element, made once at ingress.
 *
 * stanza_parse() turns the bytes of an element cut by the framer into a
 * libxml2 tree (no DTD loading, no entity substitution, no network) and pulls
 * out the routing header: kind, type, id, from, to; stanza_parse_head() does
 * the same without the tree.  The cm uses the tree for
 * stream negotiation and stamps `from`; stanza_serialize() writes the form the
 * link carries (from/to removed; see wire.h). */
#ifndef STARLING_STANZA_H
#define STARLING_STANZA_H
#include <libxml/tree.h>
#include <stddef.h>

#include "buf.h"

enum stanza_kind {
	STANZA_OTHER = 0, /* a nonza: starttls, auth, ... (look at ns and name) */
	STANZA_MESSAGE = 1,
	STANZA_PRESENCE = 2,
	STANZA_IQ = 3,
};

/* The type attribute (RFC 6120 §8.2.3, RFC 6121 §4.7.1, §5.2.2).  STANZA_T_NONE
 * is "absent": a normal message or available presence.  Values are on the wire. */
enum stanza_type {
	STANZA_T_NONE = 0,
	STANZA_T_NORMAL,
	STANZA_T_CHAT,
	STANZA_T_GROUPCHAT,
	STANZA_T_HEADLINE,
	STANZA_T_ERROR,
	STANZA_T_UNAVAILABLE,
	STANZA_T_SUBSCRIBE,
	STANZA_T_SUBSCRIBED,
	STANZA_T_UNSUBSCRIBE,
	STANZA_T_UNSUBSCRIBED,
	STANZA_T_PROBE,
	STANZA_T_GET,
	STANZA_T_SET,
	STANZA_T_RESULT,
	STANZA_T_INVALID, /* a value not allowed for this kind: answer <bad-request/> */
};

#define STANZA_NS_CLIENT "jabber:client"

struct stanza {
	xmlDocPtr doc;	 /* owned */
	xmlNodePtr root;
	enum stanza_kind kind; /* only set for jabber:client (or no namespace) */
	enum stanza_type type;
	const char *ns;	  /* namespace href of root, NULL if none (= stream default) */
	const char *name; /* local name of root */
	/* Attribute values owned by the stanza (NULL when absent). */
	char *id, *from, *to;
	/* The bytes it was parsed from: NOT owned, valid only as long as the
	 * caller's buffer (the framer's callback).  stanza_serialize() copies the
	 * root's content from here instead of re-serialising the tree. */
	const char *raw;
	size_t raw_len;
	/* stanza_parse_head() only (doc and root stay NULL): the root's start
	 * tag as stanza_serialize() writes it, less its closing '>' or "/>"
	 * (owned), the length of its qualified name, whether the root has
	 * content, what serialising it must answer instead (-EBADMSG), and
	 * the storage ns and name point into (owned). */
	struct buf head;
	uint32_t head_qname_len;
	int head_content;
	int head_err;
	char *names;
};

/* Parse one element, with nothing before it but white space and nothing
 * after it but white space.  Returns 0, -EBADMSG (not well-formed, or more
 * than one element), -ENOMEM. */
int stanza_parse(const char *bytes, size_t len, struct stanza *s);
/* The same checks and header with no tree: the plain shape of a stanza is
 * read in one pass of lib/stanza_fast.c, anything else by libxml2 through
 * SAX callbacks; both keep only the root's start tag.  For what is
 * routed by its header (messages, presence): doc and root stay NULL, and
 * stanza_child()/stanza_text() have nothing to look at.  Agrees with
 * stanza_parse() on every input (tests/fuzz/fuzz_stanza.c). */
int stanza_parse_head(const char *bytes, size_t len, struct stanza *s);
void stanza_free(struct stanza *s);

/* Type name <-> enum for a kind; returns STANZA_T_INVALID when not allowed. */
enum stanza_type stanza_type_parse(enum stanza_kind kind, const char *value);
const char *stanza_type_name(enum stanza_type t); /* NULL for STANZA_T_NONE */
const char *stanza_kind_name(enum stanza_kind k); /* "message", "presence", "iq" */

/* Append the stanza without from/to attributes and without an
 * xmlns="jabber:client" declaration on the root (it is the stream default).
 * The root's start tag is written anew; its content is copied from `raw`
 * when set (the caller's bytes must still be valid), else serialised. */
int stanza_serialize(const struct stanza *s, struct buf *out);

/* First child element of n with this namespace and local name (either may be
 * NULL = any).  A child with no namespace counts as jabber:client, the stream
 * default it inherits. */
xmlNodePtr stanza_child(xmlNodePtr n, const char *ns, const char *name);
/* Malloc'd text content of a node ("" when empty); NULL on ENOMEM. */
char *stanza_text(xmlNodePtr n);

#endif
