/* xstream: the XML stream framer (RFC 6120 §4, §11).
 *
 * A resumable, byte-at-a-time scanner that cuts a client's byte stream into
 * events: the stream header, each complete top-level element (stanza or
 * nonza), and the stream close.  It enforces the restricted XML profile of
 * RFC 6120 §11.1 (no DTD, comments, processing instructions other than the
 * leading XML declaration, or entity references other than the five
 * predefined ones and character references) and the size limit, and it
 * catches gross malformation; the element itself is checked for
 * well-formedness when stanza_parse() hands it to libxml2.
 *
 * Memory: the framer's state is a few bytes; the `pending` buffer holds an
 * incomplete element, and `names` the hashes of its open elements' names, only
 * while one is in flight, so an idle connection's framer owns no heap memory.
 * An element that arrives whole in one chunk is delivered straight from the
 * caller's bytes without copying.
 */
#ifndef STARLING_XSTREAM_H
#define STARLING_XSTREAM_H
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum xs_event {
	XS_STREAM_OPEN,	 /* bytes = "<stream:stream ...>" (any XML declaration excluded) */
	XS_ELEMENT,	 /* bytes = one complete top-level element */
	XS_STREAM_CLOSE, /* bytes = "</stream:stream>" */
};

/* Negative returns of xs_feed(); map to RFC 6120 §4.9.3 conditions. */
enum xs_error {
	XS_ERR_NOT_WELL_FORMED = -1, /* <not-well-formed/> */
	XS_ERR_RESTRICTED = -2,	     /* <restricted-xml/> */
	XS_ERR_TOO_BIG = -3,	     /* <policy-violation/> */
	XS_ERR_NOMEM = -4,	     /* <resource-constraint/> */
	XS_ERR_STOPPED = -5,	     /* a callback returned XS_CB_STOP (not an error) */
};

/* What the callback tells the framer to do next. */
enum xs_cb_result {
	XS_CB_CONTINUE = 0,
	XS_CB_RESTART = 1, /* stream restart (after TLS or SASL): expect a new header */
	XS_CB_STOP = 2,	   /* stop now; xs_feed returns XS_ERR_STOPPED and the rest of
			    * the chunk is not scanned (the framer stays usable) */
};

/* bytes are valid only during the call. */
typedef int (*xs_callback)(void *arg, enum xs_event ev, const char *bytes, size_t len);

struct xs_names; /* private: stack of open element name hashes */

struct xs_framer {
	struct buf pending;  /* partial element; empty (no memory) between elements */
	struct xs_names *names; /* open elements of the one in flight; NULL between elements */
	uint32_t max_size;   /* largest element or header accepted */
	uint32_t elem_len;   /* bytes of the current element seen so far */
	uint32_t name_hash;  /* hash of the tag name being scanned, private */
	uint32_t stream_hash; /* hash of the stream header's qname, private */
	uint16_t depth;	     /* element nesting; 0 = before the stream header */
	uint8_t state;	     /* scanner state, private */
	uint8_t sub;	     /* scanner sub-state (quote char, entity length, ...), private */
	uint8_t flags;	     /* private */
	uint8_t ent_len;     /* private */
	char ent[10];	     /* entity name being scanned, private */
};

void xs_init(struct xs_framer *f, uint32_t max_size);
/* Forget everything (stream restart); frees pending. */
void xs_reset(struct xs_framer *f);
void xs_free(struct xs_framer *f);
/* Whether the stream is open and no element is in flight, so that a reader
 * may take whole elements off the front of its bytes itself (the bench's
 * quick cut) and feed the framer the rest. */
int xs_between(const struct xs_framer *f);

/* Scan len bytes, calling cb for every event completed.  Returns 0 when all
 * bytes were consumed, or a negative enum xs_error; after an error the
 * framer must not be fed again (the stream is closed). */
int xs_feed(struct xs_framer *f, const char *data, size_t len, xs_callback cb, void *arg);

/* The stream header's attributes (RFC 6120 §4.7), parsed with libxml2.
 * Strings are malloc'd copies, NULL when absent; free with xs_header_free(). */
struct xs_header {
	char *to, *from, *id, *version, *lang;
	int name_ok;	   /* local name is "stream" (also with an unbound prefix) */
	int stream_ns_ok;  /* element namespace is http://etherx.jabber.org/streams */
	int content_ns_ok; /* default namespace is jabber:client */
};
/* Returns 0, or XS_ERR_NOT_WELL_FORMED when the header is not XML. */
int xs_parse_header(const char *bytes, size_t len, struct xs_header *h);
void xs_header_free(struct xs_header *h);

#endif
