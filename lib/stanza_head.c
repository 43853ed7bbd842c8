/* stanza_head: the tree-less parse of a stanza (stanza_parse_head in
 * stanza.h).  libxml2 still reads every byte (well-formedness, namespaces,
 * UTF-8: RFC 6120 §11); the callbacks below keep only what routing needs
 * from the root's start tag and write that start tag as stanza_serialize()
 * would from a tree.  Building, querying and freeing the tree was half of
 * what the cm spent parsing a chat message (docs/performance.md). */
#include <errno.h>
#include <libxml/parser.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "stanza_priv.h"
#include "xmlctx.h"

struct head_sax {
	struct stanza *s;
	int depth; /* elements open */
	int roots; /* top-level elements seen */
	int err;   /* a refusal of ours (-EBADMSG, -ENOMEM), whatever libxml2 says */
};

/* An attribute value as SAX hands it over without entity substitution:
 * every '&' of the document arrives as "&#38;" (libxml2 leaves it for the
 * tree builder to decode), everything else decoded.  Into d, which holds
 * end - v + 1 bytes; returns the length written before the NUL. */
static size_t head_value(const xmlChar *v, const xmlChar *end, char *d)
{
	size_t len = (size_t)(end - v), o = 0;
	if (!memchr(v, '&', len)) {
		memcpy(d, v, len);
		d[len] = 0;
		return len;
	}
	for (size_t i = 0; i < len; o++) {
		d[o] = (char)v[i];
		i += v[i] == '&' && len - i >= 5 && !memcmp(v + i, "&#38;", 5) ? 5 : 1;
	}
	d[o] = 0;
	return o;
}

static int head_names(struct stanza *s, const xmlChar *uri, const xmlChar *local)
{
	size_t ul = uri ? strlen((const char *)uri) + 1 : 0, nl = strlen((const char *)local) + 1;
	s->names = malloc(ul + nl); /* freed by stanza_free() */
	if (!s->names)
		return -ENOMEM;
	memcpy(s->names, uri ? (const char *)uri : "", ul);
	memcpy(s->names + ul, local, nl);
	s->ns = uri ? s->names : NULL;
	s->name = s->names + ul;
	return 0;
}

/* "<prefix:name" and the namespace declarations, less the default one: the
 * root goes out in the stream's default namespace (the rule of
 * stanza_put_nsdefs() in stanza.c, which serialises a tree). */
static int head_open(struct stanza *s, const xmlChar *prefix, const xmlChar *uri, int nb_ns,
		     const xmlChar **ns)
{
	int root_default = !uri || !strcmp((const char *)uri, STANZA_NS_CLIENT);
	const xmlChar *p = root_default ? NULL : prefix;
	struct buf *h = &s->head;
	if (buf_append_str(h, "<") || (p && (buf_append_str(h, (const char *)p) ||
					     buf_append_str(h, ":"))) ||
	    buf_append_str(h, s->name))
		return -ENOMEM;
	s->head_qname_len = (uint32_t)buf_avail(h) - 1;
	for (int i = 0; i < nb_ns; i++) {
		const xmlChar *pre = ns[2 * i];
		const char *href = ns[2 * i + 1] ? (const char *)ns[2 * i + 1] : "";
		if (!pre && root_default) {
			if (*href && strcmp(href, STANZA_NS_CLIENT))
				s->head_err = -EBADMSG;
			continue;
		}
		if (stanza_put_ns(h, pre, href))
			return -ENOMEM;
	}
	return 0;
}

/* One attribute (SAX2's five pointers: local name, prefix, URI, value,
 * value end): into the start tag, and into the header when it is one.  Only
 * what the header keeps is allocated. */
static int head_attr(struct stanza *s, const xmlChar **a, int *typed)
{
	const char *name = (const char *)a[0];
	char **keep = NULL;
	int type = 0;
	if (!a[2]) {
		if (!strcmp(name, "id"))
			keep = &s->id;
		else if (!strcmp(name, "from"))
			keep = &s->from;
		else if (!strcmp(name, "to"))
			keep = &s->to;
		else if (!strcmp(name, "type") && !*typed)
			type = *typed = 1;
	}
	char scratch[256];
	size_t len = (size_t)(a[4] - a[3]);
	char *v = keep || len >= sizeof scratch ? malloc(len + 1) : scratch;
	if (!v)
		return -ENOMEM;
	size_t n = head_value(a[3], a[4], v);
	int err = 0;
	/* from and to go in the link's routing header (wire.h). */
	if (keep != &s->from && keep != &s->to)
		err = stanza_put_attr(&s->head, a[1], name, v, n);
	if (type && s->kind != STANZA_OTHER)
		s->type = stanza_type_parse(s->kind, v);
	if (keep) {
		free(*keep); /* an attribute twice is not well-formed anyway */
		*keep = v;
	} else if (v != scratch) {
		free(v);
	}
	return err;
}

int stanza_head_root(struct stanza *s, const xmlChar *local, const xmlChar *prefix,
		     const xmlChar *uri, int nb_ns, const xmlChar **ns, int nb_attrs,
		     const xmlChar **attrs)
{
	int typed = 0;
	int err = head_names(s, uri, local);
	if (err)
		return err;
	s->kind = stanza_kind_of(s->ns, s->name);
	err = head_open(s, prefix, uri, nb_ns, ns);
	for (int i = 0; !err && i < nb_attrs; i++)
		err = head_attr(s, attrs + 5 * i, &typed);
	if (!typed && s->kind != STANZA_OTHER)
		s->type = stanza_type_parse(s->kind, NULL);
	return err;
}

static void head_start(void *ctx, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri,
		       int nb_ns, const xmlChar **ns, int nb_attrs, int nb_defaulted,
		       const xmlChar **attrs)
{
	struct head_sax *h = ctx;
	(void)nb_defaulted; /* defaults come from a DTD, which is refused */
	if (h->depth++ == 1)
		h->s->head_content = 1;
	if (h->depth > 1)
		return;
	if (h->roots++ == 0 && !h->err)
		h->err = stanza_head_root(h->s, local, prefix, uri, nb_ns, ns, nb_attrs, attrs);
}

static void head_end(void *ctx, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri)
{
	(void)local, (void)prefix, (void)uri;
	((struct head_sax *)ctx)->depth--;
}

/* Text, CDATA, a comment or a PI inside the root: the root has content (what
 * a tree would hold as children).  A comment or PI after the root is not
 * part of one element (stanza_prolog_ok() in stanza.h). */
static void head_content(struct head_sax *h)
{
	if (h->depth == 1)
		h->s->head_content = 1;
	else if (!h->depth && h->roots)
		h->err = -EBADMSG;
}

static void head_chars(void *ctx, const xmlChar *ch, int len)
{
	(void)ch, (void)len;
	head_content(ctx);
}

static void head_comment(void *ctx, const xmlChar *value)
{
	(void)value;
	head_content(ctx);
}

static void head_pi(void *ctx, const xmlChar *target, const xmlChar *data)
{
	(void)target, (void)data;
	head_content(ctx);
}

static void head_reference(void *ctx, const xmlChar *name)
{
	(void)name;
	head_content(ctx);
}

/* RFC 6120 §11.1: no DTD, even one the framer never let through. */
static void head_dtd(void *ctx, const xmlChar *name, const xmlChar *ext_id, const xmlChar *sys_id)
{
	(void)name, (void)ext_id, (void)sys_id;
	((struct head_sax *)ctx)->err = -EBADMSG;
}

static xmlSAXHandler head_handler = {
	.internalSubset = head_dtd,
	.externalSubset = head_dtd,
	.reference = head_reference,
	.characters = head_chars,
	.ignorableWhitespace = head_chars,
	.cdataBlock = head_chars,
	.processingInstruction = head_pi,
	.comment = head_comment,
	.initialized = XML_SAX2_MAGIC,
	.startElementNs = head_start,
	.endElementNs = head_end,
};

int stanza_parse_head(const char *bytes, size_t len, struct stanza *s)
{
	memset(s, 0, sizeof(*s));
	int rc = stanza_head_fast(bytes, len, s); /* leaves a NUL to libxml2's path */
	if (rc < 0) {
		stanza_free(s);
		return rc;
	}
	if (rc) {
		s->raw = bytes;
		s->raw_len = len;
		return 0;
	}
	return stanza_head_libxml(bytes, len, s);
}

int stanza_head_libxml(const char *bytes, size_t len, struct stanza *s)
{
	memset(s, 0, sizeof(*s));
	/* As stanza_parse(): XML holds no NUL, and libxml2 would stop at one. */
	if (len > INT_MAX || memchr(bytes, 0, len) || !stanza_prolog_ok(bytes, len))
		return -EBADMSG;
	struct head_sax h = {.s = s};
	struct xmlctx_status st;
	int rc = xmlctx_sax(bytes, len, STANZA_PARSE_OPTS, &head_handler, &h, &st);
	/* A namespace error (a prefix bound only on the stream header) is
	 * refused, as the tree parse refuses it. */
	if (!rc && (!st.ns_well_formed || !h.roots))
		rc = -EBADMSG;
	if (!rc || rc == -EBADMSG)
		rc = h.err == -ENOMEM ? -ENOMEM : h.err ? h.err : rc;
	if (rc) {
		stanza_free(s);
		return rc;
	}
	s->raw = bytes;
	s->raw_len = len;
	return 0;
}
