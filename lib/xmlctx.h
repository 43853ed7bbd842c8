/* xmlctx: one libxml2 parser context per thread, reused by every parse
 * (stanzas, stream headers): creating a context costs more than parsing a
 * chat message, and a login parses three stream headers. */
#ifndef STARLING_XMLCTX_H
#define STARLING_XMLCTX_H
#include <libxml/parser.h>

/* The thread's context, made on first use; NULL when out of memory.  Its
 * name dictionary is shared with the documents it builds and grows with
 * every new name a peer sends, so it is replaced past a bound. */
xmlParserCtxtPtr xmlctx_get(void);
/* Frees the thread's context: at thread end, or to start the next parse
 * afresh after an out-of-memory.  Documents keep their own dictionary
 * reference. */
void xmlctx_thread_end(void);

#endif
