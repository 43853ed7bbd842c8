/* xmlctx: the per-thread parser context. */
#include "xmlctx.h"

#include <errno.h>
#include <libxml/parserInternals.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define XMLCTX_DICT_MAX 4096
/* A scratch copy larger than this is freed after the parse: a worker keeps
 * no big buffer for the rare large stanza. */
#define XMLCTX_SCRATCH_KEEP 4096

static __thread xmlParserCtxtPtr xmlctx;
static __thread char *xmlctx_scratch; /* freed by xmlctx_thread_end() */
static __thread size_t xmlctx_scratch_cap;

/* libxml2 reports some errors through the thread's generic error function
 * whatever the parse options say (a validity error for an xml:id that is no
 * NCName, from the tree builder): by default that prints to stderr, where a
 * client could write three lines of the server's log with every stanza. */
static void xmlctx_quiet(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

xmlParserCtxtPtr xmlctx_get(void)
{
	if (xmlctx && xmlDictSize(xmlctx->dict) > XMLCTX_DICT_MAX)
		xmlctx_thread_end();
	if (!xmlctx) {
		xmlSetGenericErrorFunc(NULL, xmlctx_quiet); /* per thread in libxml2 */
		xmlctx = xmlNewParserCtxt(); /* freed by xmlctx_thread_end() */
	}
	return xmlctx;
}

/* The bytes followed by a NUL, which libxml2's parser reads as the end of a
 * static input. */
static const char *xmlctx_copy(const char *bytes, size_t len)
{
	if (len + 1 > xmlctx_scratch_cap) {
		size_t cap = len + 1 < 512 ? 512 : len + 1;
		char *p = realloc(xmlctx_scratch, cap);
		if (!p)
			return NULL;
		xmlctx_scratch = p;
		xmlctx_scratch_cap = cap;
	}
	memcpy(xmlctx_scratch, bytes, len);
	xmlctx_scratch[len] = 0;
	return xmlctx_scratch;
}

static void xmlctx_trim(void)
{
	if (xmlctx_scratch_cap > XMLCTX_SCRATCH_KEEP) {
		free(xmlctx_scratch);
		xmlctx_scratch = NULL;
		xmlctx_scratch_cap = 0;
	}
}

/* What xmlCtxtReadMemory does, with a static input instead of a growable
 * copy: libxml2 2.9 gives a memory input a no-op read callback, and the
 * parser then "grows" it every few bytes (a third of a chat message's parse
 * went there); a static input has no callback and never grows.  2.9's
 * shrinking of a static input is broken (it moves the read position back
 * without moving the start: a stanza over 500 bytes came out garbled), so
 * the context is marked progressive, the one flag that keeps the pull
 * parser from growing or shrinking its input: the whole document is there.
 * No converter may be switched in: one converts the input as the parser
 * grows it, which it no longer does (an XML declaration naming another
 * encoding leaves the rest unread: not well-formed, as RFC 6120 §11.6 wants
 * anyway). */
static int xmlctx_parse(xmlParserCtxtPtr ctxt, const char *text, size_t len, int options,
			xmlSAXHandler *sax, void *user)
{
	xmlCtxtReset(ctxt);
	xmlParserInputBufferPtr in =
		xmlParserInputBufferCreateStatic(text, (int)len, XML_CHAR_ENCODING_NONE);
	xmlParserInputPtr stream =
		in ? xmlNewIOInputStream(ctxt, in, XML_CHAR_ENCODING_NONE) : NULL;
	if (!stream) {
		if (in)
			xmlFreeParserInputBuffer(in);
		return -ENOMEM;
	}
	inputPush(ctxt, stream);
	xmlCtxtUseOptions(ctxt, options);
#if LIBXML_VERSION < 21100
	ctxt->progressive = 1; /* see above; later versions shrink static inputs right */
#endif
	/* Options edit the context's own handler, so the caller's is put in
	 * only now, and only for this parse. */
	xmlSAXHandlerPtr tree = ctxt->sax;
	if (sax) {
		ctxt->sax = sax;
		ctxt->userData = user;
	}
	xmlParseDocument(ctxt);
	ctxt->sax = tree;
	ctxt->userData = ctxt;
	return 0;
}

/* The parse with the thread's context and scratch copy.  Returns the tree
 * the context's own handler built (sax NULL) or NULL; *st says how it went. */
static xmlDocPtr xmlctx_run(const char *bytes, size_t len, int options, xmlSAXHandler *sax,
			    void *user, struct xmlctx_status *st)
{
	*st = (struct xmlctx_status){0};
	xmlParserCtxtPtr ctxt = len < INT_MAX ? xmlctx_get() : NULL;
	const char *text = ctxt ? xmlctx_copy(bytes, len) : NULL;
	if (!text) {
		st->nomem = len < INT_MAX;
		return NULL;
	}
	int rc = xmlctx_parse(ctxt, text, len, options, sax, user);
	xmlDocPtr doc = ctxt->myDoc; /* caller frees */
	ctxt->myDoc = NULL;
	xmlctx_trim();
	st->well_formed = !rc && ctxt->wellFormed;
	st->ns_well_formed = ctxt->nsWellFormed;
	if (rc || ctxt->errNo == XML_ERR_NO_MEMORY) {
		st->nomem = 1;
		xmlctx_thread_end(); /* start the next parse from a clean context */
	}
	if (doc && (st->nomem || !st->well_formed)) {
		xmlFreeDoc(doc);
		doc = NULL;
	}
	return doc;
}

xmlDocPtr xmlctx_read(const char *bytes, size_t len, int options, struct xmlctx_status *st)
{
	return xmlctx_run(bytes, len, options, NULL, NULL, st);
}

int xmlctx_sax(const char *bytes, size_t len, int options, xmlSAXHandler *sax, void *user,
	       struct xmlctx_status *st)
{
	xmlDocPtr doc = xmlctx_run(bytes, len, options, sax, user, st);
	xmlFreeDoc(doc); /* none unless the handler builds one */
	return st->nomem ? -ENOMEM : st->well_formed ? 0 : -EBADMSG;
}

void xmlctx_thread_end(void)
{
	if (xmlctx)
		xmlFreeParserCtxt(xmlctx);
	xmlctx = NULL;
	free(xmlctx_scratch);
	xmlctx_scratch = NULL;
	xmlctx_scratch_cap = 0;
}
