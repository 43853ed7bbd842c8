/* xmlctx: the per-thread parser context. */
#include "xmlctx.h"

#define XMLCTX_DICT_MAX 4096

static __thread xmlParserCtxtPtr xmlctx;

xmlParserCtxtPtr xmlctx_get(void)
{
	if (xmlctx && xmlDictSize(xmlctx->dict) > XMLCTX_DICT_MAX)
		xmlctx_thread_end();
	if (!xmlctx)
		xmlctx = xmlNewParserCtxt(); /* freed by xmlctx_thread_end() */
	return xmlctx;
}

void xmlctx_thread_end(void)
{
	if (xmlctx)
		xmlFreeParserCtxt(xmlctx);
	xmlctx = NULL;
}
