/* stanza: parse an element cut by the framer into a libxml2 tree and write it
 * back for the link.  See stanza.h. */
#include "stanza.h"

#include <errno.h>
#include <libxml/parser.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "stanza_priv.h"
#include "xmlctx.h"

static const char *const stanza_kinds[] = {
	[STANZA_MESSAGE] = "message", [STANZA_PRESENCE] = "presence", [STANZA_IQ] = "iq"};

static const char *const stanza_types[] = {
	[STANZA_T_NORMAL] = "normal",		[STANZA_T_CHAT] = "chat",
	[STANZA_T_GROUPCHAT] = "groupchat",	[STANZA_T_HEADLINE] = "headline",
	[STANZA_T_ERROR] = "error",		[STANZA_T_UNAVAILABLE] = "unavailable",
	[STANZA_T_SUBSCRIBE] = "subscribe",	[STANZA_T_SUBSCRIBED] = "subscribed",
	[STANZA_T_UNSUBSCRIBE] = "unsubscribe", [STANZA_T_UNSUBSCRIBED] = "unsubscribed",
	[STANZA_T_PROBE] = "probe",		[STANZA_T_GET] = "get",
	[STANZA_T_SET] = "set",			[STANZA_T_RESULT] = "result",
};

static int streq(const xmlChar *a, const char *b) { return a && !strcmp((const char *)a, b); }

const char *stanza_kind_name(enum stanza_kind k)
{
	return k >= STANZA_MESSAGE && k <= STANZA_IQ ? stanza_kinds[k] : NULL;
}

const char *stanza_type_name(enum stanza_type t)
{
	return t >= STANZA_T_NORMAL && t <= STANZA_T_RESULT ? stanza_types[t] : NULL;
}

enum stanza_kind stanza_kind_of(const char *ns, const char *name)
{
	/* A stanza cut from the stream has no xmlns: it inherits jabber:client. */
	if (!ns || !strcmp(ns, STANZA_NS_CLIENT))
		for (int k = STANZA_MESSAGE; k <= STANZA_IQ; k++)
			if (!strcmp(name, stanza_kinds[k]))
				return (enum stanza_kind)k;
	return STANZA_OTHER;
}

/* Is type t allowed on kind k?  RFC 6121 §5.2.2 (message), §4.7.1 (presence),
 * RFC 6120 §8.2.3 (iq). */
static int stanza_type_allowed(enum stanza_kind k, enum stanza_type t)
{
	switch (k) {
	case STANZA_MESSAGE: return t <= STANZA_T_HEADLINE || t == STANZA_T_ERROR;
	case STANZA_PRESENCE: return t >= STANZA_T_ERROR && t <= STANZA_T_PROBE;
	case STANZA_IQ: return t == STANZA_T_ERROR || (t >= STANZA_T_GET && t <= STANZA_T_RESULT);
	default: return 0;
	}
}

enum stanza_type stanza_type_parse(enum stanza_kind kind, const char *value)
{
	if (!value) /* RFC 6120 §8.2.3: an iq MUST carry a type */
		return kind == STANZA_IQ ? STANZA_T_INVALID : STANZA_T_NONE;
	for (int i = STANZA_T_NORMAL; i <= STANZA_T_RESULT; i++) {
		enum stanza_type t = (enum stanza_type)i;
		if (!strcmp(value, stanza_types[t]))
			return stanza_type_allowed(kind, t) ? t : STANZA_T_INVALID;
	}
	return STANZA_T_INVALID;
}

/* Malloc'd copy of a no-namespace attribute; *err = -ENOMEM on failure. */
static char *stanza_attr(xmlNodePtr n, const char *name, int *err)
{
	xmlChar *v = xmlGetNoNsProp(n, BAD_CAST name);
	if (!v)
		return NULL;
	char *s = strdup((const char *)v);
	xmlFree(v);
	if (!s)
		*err = -ENOMEM;
	return s;
}

static int stanza_fill(struct stanza *s)
{
	xmlNodePtr r = s->root;
	int err = 0;

	s->ns = r->ns ? (const char *)r->ns->href : NULL;
	s->name = (const char *)r->name;
	s->kind = stanza_kind_of(s->ns, s->name);
	if (s->kind != STANZA_OTHER) {
		xmlChar *t = xmlGetNoNsProp(r, BAD_CAST "type");
		s->type = stanza_type_parse(s->kind, (const char *)t);
		xmlFree(t);
	}
	s->id = stanza_attr(r, "id", &err);
	s->from = stanza_attr(r, "from", &err);
	s->to = stanza_attr(r, "to", &err);
	return err;
}

int stanza_prolog_ok(const char *bytes, size_t len)
{
	size_t i = 0;
	while (i < len && (bytes[i] == ' ' || bytes[i] == '\t' || bytes[i] == '\n' || bytes[i] == '\r'))
		i++;
	return len - i >= 2 && bytes[i] == '<' && bytes[i + 1] != '?' && bytes[i + 1] != '!';
}

int stanza_parse(const char *bytes, size_t len, struct stanza *s)
{
	memset(s, 0, sizeof(*s));
	/* libxml2 stops at a NUL, which would leave the tree and the bytes
	 * disagreeing; XML cannot contain one anyway. */
	if (len > INT_MAX || memchr(bytes, 0, len) || !stanza_prolog_ok(bytes, len))
		return -EBADMSG;
	/* Read as UTF-8, the stream's only encoding (RFC 6120 §11.6); NUL and
	 * other controls are refused before, so no UTF-16 can be sniffed. */
	struct xmlctx_status st;
	xmlDocPtr doc = xmlctx_read(bytes, len, STANZA_PARSE_OPTS, &st);
	/* A namespace error (e.g. a prefix bound only on the stream header) is
	 * refused: the tree would carry the wrong namespace. */
	int ok = doc && st.ns_well_formed;
	/* RFC 6120 §11.1: no DTD, even one the framer never let through. */
	if (!ok || doc->intSubset || doc->extSubset || !xmlDocGetRootElement(doc) ||
	    xmlDocGetRootElement(doc)->next) { /* a comment or PI after it */
		xmlFreeDoc(doc);
		return st.nomem ? -ENOMEM : -EBADMSG;
	}
	s->doc = doc;
	s->root = xmlDocGetRootElement(doc);
	s->raw = bytes;
	s->raw_len = len;
	int err = stanza_fill(s);
	if (err)
		stanza_free(s);
	return err;
}

void stanza_free(struct stanza *s)
{
	if (s->doc)
		xmlFreeDoc(s->doc);
	free(s->id);
	free(s->from);
	free(s->to);
	free(s->names);
	buf_free(&s->head);
	memset(s, 0, sizeof(*s));
}


int stanza_put_attr(struct buf *out, const xmlChar *prefix, const char *name, const char *value,
		    size_t value_len)
{
	int err = buf_append_str(out, " ");
	if (!err && prefix)
		err = buf_append_str(out, (const char *)prefix) || buf_append_str(out, ":");
	if (!err)
		err = buf_append_str(out, name) || buf_append_str(out, "=\"") ||
		      buf_append_xml_escaped(out, value, value_len) || buf_append_str(out, "\"");
	return err ? -ENOMEM : 0;
}

/* libxml2 keeps an '&' of a namespace name as "&#38;": it leaves
 * references in attribute values for the tree builder to decode, and
 * nothing decodes a namespace name.  Each stands for one '&' here, or the
 * name would change at every hop (tests/fuzz/fuzz_stanza.c found it). */
int stanza_put_ns(struct buf *out, const xmlChar *prefix, const char *href)
{
	int err = buf_append_str(out, prefix ? " xmlns:" : " xmlns") ||
		  (prefix && buf_append_str(out, (const char *)prefix)) || buf_append_str(out, "=\"");
	const char *amp;
	while (!err && (amp = strstr(href, "&#38;"))) {
		err = buf_append_xml_escaped(out, href, (size_t)(amp - href)) ||
		      buf_append_str(out, "&amp;");
		href = amp + 5;
	}
	err = err || buf_append_xml_escaped(out, href, strlen(href)) || buf_append_str(out, "\"");
	return err ? -ENOMEM : 0;
}

/* Namespace declarations of the root, less the default one: the root goes
 * out in the stream's default namespace (jabber:client).  A default
 * declaration that cannot be dropped without changing meaning (root bound to
 * jabber:client through a prefix, default set to something else) is refused. */
static int stanza_put_nsdefs(const xmlNode *r, struct buf *out)
{
	int root_default = !r->ns || streq(r->ns->href, STANZA_NS_CLIENT);

	for (const xmlNs *ns = r->nsDef; ns; ns = ns->next) {
		const char *href = ns->href ? (const char *)ns->href : "";
		if (!ns->prefix && root_default) {
			if (*href && strcmp(href, STANZA_NS_CLIENT))
				return -EBADMSG;
			continue;
		}
		if (stanza_put_ns(out, ns->prefix, href))
			return -ENOMEM;
	}
	return 0;
}

static int stanza_put_attrs(const xmlNode *r, struct buf *out)
{
	for (xmlAttrPtr a = r->properties; a; a = a->next) {
		if (!a->ns && (streq(a->name, "from") || streq(a->name, "to")))
			continue; /* the link carries them in the routing header (wire.h) */
		xmlChar *v = xmlNodeGetContent((xmlNodePtr)a);
		if (!v)
			return -ENOMEM;
		int err = stanza_put_attr(out, a->ns ? a->ns->prefix : NULL, (const char *)a->name,
					  (const char *)v, strlen((const char *)v));
		xmlFree(v);
		if (err)
			return err;
	}
	return 0;
}

/* The root's content as the client wrote it: between the end of the start
 * tag (the first '>' outside a quoted value) and the last '<' (the end tag).
 * libxml2 has just accepted these bytes, so they are well-formed in this
 * context, and every prefix they use is declared on the root or inside them
 * (stanza_parse refuses anything else), which the start tag we write keeps. */
static int stanza_put_raw_content(const struct stanza *s, struct buf *out)
{
	const char *p = s->raw, *end = s->raw + s->raw_len;
	char quote = 0;
	for (; p < end; p++) {
		if (quote) {
			if (*p == quote)
				quote = 0;
		} else if (*p == '"' || *p == '\'') {
			quote = *p;
		} else if (*p == '>') {
			break;
		}
	}
	const char *last = end;
	while (last > p && *--last != '<')
		;
	if (p >= end || last <= p || last + 1 >= end || last[1] != '/')
		return -EINVAL; /* not the shape libxml2 accepted: caller falls back */
	return buf_append(out, p + 1, (size_t)(last - p - 1));
}

static int stanza_put_children(const struct stanza *s, struct buf *out)
{
	if (s->raw) {
		uint32_t mark = out->len;
		int err = stanza_put_raw_content(s, out);
		if (err != -EINVAL)
			return err;
		out->len = mark;
	}
	xmlBufferPtr xb = xmlBufferCreate(); /* freed below */
	int err = xb ? 0 : -ENOMEM;

	for (xmlNodePtr c = s->root->children; c && !err; c = c->next)
		if (xmlNodeDump(xb, s->doc, c, 0, 0) < 0)
			err = -ENOMEM;
	if (!err)
		err = buf_append(out, xmlBufferContent(xb), (size_t)xmlBufferLength(xb));
	xmlBufferFree(xb);
	return err;
}

/* "prefix:name" (prefix may be NULL). */
static int stanza_put_qname(struct buf *out, const xmlChar *prefix, const xmlChar *name)
{
	if (prefix && (buf_append_str(out, (const char *)prefix) || buf_append_str(out, ":")))
		return -ENOMEM;
	return buf_append_str(out, (const char *)name);
}

static int stanza_put(const struct stanza *s, struct buf *out)
{
	const xmlNode *r = s->root;
	/* Root in jabber:client through a prefix goes out unprefixed (wire.h
	 * wants "<message..."); a foreign namespace keeps its prefix. */
	const xmlChar *prefix = r->ns && !streq(r->ns->href, STANZA_NS_CLIENT) ? r->ns->prefix
									       : NULL;
	int err;

	if (buf_append_str(out, "<") || stanza_put_qname(out, prefix, r->name))
		return -ENOMEM;
	if ((err = stanza_put_nsdefs(r, out)) || (err = stanza_put_attrs(r, out)))
		return err;
	if (!r->children)
		return buf_append_str(out, "/>");
	if (buf_append_str(out, ">"))
		return -ENOMEM;
	if ((err = stanza_put_children(s, out)))
		return err;
	if (buf_append_str(out, "</") || stanza_put_qname(out, prefix, r->name) ||
	    buf_append_str(out, ">"))
		return -ENOMEM;
	return 0;
}

/* A stanza_parse_head() stanza: the start tag written at parse time, the
 * content as the client wrote it.  Content not in the shape libxml2
 * accepted (never seen) is written from a tree after all. */
static int stanza_put_head(const struct stanza *s, struct buf *out)
{
	if (s->head_err)
		return s->head_err;
	uint32_t start = out->len;
	if (buf_append(out, buf_head(&s->head), buf_avail(&s->head)))
		return -ENOMEM;
	if (!s->head_content)
		return buf_append_str(out, "/>");
	if (buf_append_str(out, ">"))
		return -ENOMEM;
	int err = stanza_put_raw_content(s, out);
	if (err == -EINVAL) {
		out->len = start;
		struct stanza t;
		if (!(err = stanza_parse(s->raw, s->raw_len, &t)))
			err = stanza_serialize(&t, out);
		stanza_free(&t);
		return err;
	}
	if (err || buf_append_str(out, "</") ||
	    buf_append(out, buf_head(&s->head) + 1, s->head_qname_len) || buf_append_str(out, ">"))
		return -ENOMEM;
	return 0;
}

int stanza_serialize(const struct stanza *s, struct buf *out)
{
	if (buf_avail(&s->head) == 0 && (!s->doc || !s->root))
		return -EINVAL;
	uint32_t mark = out->len;
	int err = buf_avail(&s->head) ? stanza_put_head(s, out) : stanza_put(s, out);
	if (err && out->len > mark)
		out->len = mark; /* leave no partial stanza behind */
	return err;
}

xmlNodePtr stanza_child(xmlNodePtr n, const char *ns, const char *name)
{
	for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		/* No namespace means the stream default, jabber:client. */
		const char *cns = STANZA_NS_CLIENT;
		if (c->ns && c->ns->href)
			cns = (const char *)c->ns->href;
		if ((!ns || !strcmp(ns, cns)) && (!name || streq(c->name, name)))
			return c;
	}
	return NULL;
}

char *stanza_text(xmlNodePtr n)
{
	xmlChar *v = n ? xmlNodeGetContent(n) : NULL;
	char *s = strdup(v ? (const char *)v : ""); /* caller frees */
	xmlFree(v);
	return s;
}
