/* xmlctx: one libxml2 parser context per thread, reused by every parse
 * (stanzas, stream headers): creating a context costs more than parsing a
 * chat message, and a login parses three stream headers. */
#ifndef STARLING_XMLCTX_H
#define STARLING_XMLCTX_H
#include <libxml/parser.h>
#include <stddef.h>

/* The thread's context, made on first use; NULL when out of memory.  Its
 * name dictionary is shared with the documents it builds and grows with
 * every new name a peer sends, so it is replaced past a bound. */
xmlParserCtxtPtr xmlctx_get(void);

struct xmlctx_status {
	int nomem;	      /* memory ran out (the context is already replaced) */
	int well_formed;    /* XML 1.0 well-formed */
	int ns_well_formed; /* no namespace error (e.g. an undeclared prefix) */
};

/* Parse len bytes of UTF-8 (RFC 6120 §11.6; read without a converter) as a
 * whole document with the thread's context and `options`.  Returns the
 * tree (caller frees with xmlFreeDoc), or NULL when it is not well-formed or
 * memory ran out.  The bytes need no NUL terminator and are not referenced
 * once it returns. */
xmlDocPtr xmlctx_read(const char *bytes, size_t len, int options, struct xmlctx_status *st);

/* The same parse with `sax` in place of the tree builder, `user` its
 * callbacks' context, for the length of this call.  Returns 0 when the
 * bytes are well-formed, -EBADMSG, or -ENOMEM. */
int xmlctx_sax(const char *bytes, size_t len, int options, xmlSAXHandler *sax, void *user,
	       struct xmlctx_status *st);

/* Frees the thread's context and scratch copy: at thread end, or to start
 * the next parse afresh after an out-of-memory.  Documents keep their own
 * dictionary reference. */
void xmlctx_thread_end(void);

#endif
