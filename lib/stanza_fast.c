/* stanza_fast: stanza_parse_head() for the plain shape most stanzas have,
 * without libxml2.
 *
 * Why: libxml2's parse of a chat message was 11,400 of the cm's 27,900
 * instructions per message (docs/performance.md, "A fast path for the
 * parse"), most of it its general machinery (input buffers, the name
 * dictionary, callbacks) for a few hundred bytes.  This reads one shape in a
 * single pass: names in ASCII without prefixes (xml:lang aside), attribute
 * values without references, tabs or line ends, text with the five
 * predefined entities, valid UTF-8 that XML 1.0 §2.2 allows.  The root's
 * start tag goes to the callback libxml2's parse uses (stanza_head_root), so
 * the header is the same by construction.
 *
 * It never refuses anything: what it is not sure of (a prefix, a CDATA
 * section, a character or other reference, a comment, a PI, a name outside
 * ASCII, a namespace name libxml2 has not accepted before, white space
 * around the element, limits) it leaves to libxml2, which decides (RFC 6120
 * §11).  tests/fuzz/fuzz_stanza.c checks every input against the tree parse;
 * test_stanza runs its cases through both paths. */
#include <errno.h>
#include <libxml/uri.h>
#include <libxml/xmlstring.h>
#include <stdint.h>
#include <string.h>

#include "stanza_priv.h"
#include "utf8.h"

#define FAST_DEPTH 32	     /* elements open; libxml2 allows 256 */
#define FAST_ATTRS 16	     /* per element */
#define FAST_NAME_MAX 255    /* libxml2 allows 50,000 */
#define FAST_LEN_MAX (1u << 20) /* under libxml2's 10 MB text limit */
#define FAST_NS_SEEN 8	     /* namespace names libxml2 accepted, per thread */
#define FAST_NS_LEN 96

#define F_NSTART 0x01 /* starts an NCName here: [A-Za-z_] */
#define F_NCHAR 0x02  /* in an NCName here: [A-Za-z0-9._-] */
#define F_SPACE 0x04  /* S (XML 1.0 §2.3) */
#define F_TEXT 0x08   /* as is in character data */
#define F_VAL 0x10    /* as is in an attribute value */

#define TV (F_TEXT | F_VAL)
#define NAME_CHAR (F_NCHAR | TV)
#define NAME_START (F_NSTART | F_NCHAR | TV)

/* '<' and '&' are neither text nor value; ']' is checked for "]]>"; the
 * quotes end a value; tab and line ends in a value are normalised by
 * libxml2 (XML 1.0 §3.3.3) and left to it; DEL and the rest are rare. */
static const uint8_t fast_cls[256] = {
	['\t'] = F_SPACE | F_TEXT, ['\n'] = F_SPACE | F_TEXT, ['\r'] = F_SPACE | F_TEXT,
	[' '] = F_SPACE | TV,	   ['!'] = TV,		      ['"'] = F_TEXT,
	['#' ... '%'] = TV,	   ['\''] = F_TEXT,	      ['(' ... ','] = TV,
	['-' ... '.'] = NAME_CHAR, ['/'] = TV,		      ['0' ... '9'] = NAME_CHAR,
	[':' ... ';'] = TV,	   ['=' ... '@'] = TV,	      ['A' ... 'Z'] = NAME_START,
	['[' ... '\\'] = TV,	   [']'] = F_VAL,	      ['^'] = TV,
	['_'] = NAME_START,	   ['`'] = TV,		      ['a' ... 'z'] = NAME_START,
	['{' ... '~'] = TV,
};

static int cls(const char *p, uint8_t f) { return fast_cls[(unsigned char)*p] & f; }

struct fast_name {
	const char *pre, *local; /* pre NULL: no prefix */
	size_t local_len;
};

struct fast_attr {
	struct fast_name n;
	const char *v, *v_end;
};

struct fast_tag {
	struct fast_name n;
	int nattrs;
	struct fast_attr a[FAST_ATTRS];
	const char *ns, *ns_end; /* a default namespace declared here (ns set) */
	int empty;		 /* "/>" */
};

/* A character at p that is not ASCII (the byte classes handle those) and
 * that XML 1.0 §2.2 allows: its length, or 0 to defer.  libxml2 refuses the
 * same ones (ill-formed UTF-8, surrogates, U+FFFE/F). */
static size_t fast_utf8(const char *p, const char *e)
{
	uint32_t v;
	size_t n = (unsigned char)*p >= 0x80 ? utf8_next(p, e, &v) : 0;
	return n && utf8_xml_char(v) ? n : 0;
}

static const char *fast_space(const char *p, const char *e)
{
	while (p < e && cls(p, F_SPACE))
		p++;
	return p;
}

static const char *fast_ncname(const char *p, const char *e)
{
	const char *s = p;
	if (p == e || !cls(p, F_NSTART))
		return NULL;
	for (p++; p < e && cls(p, F_NCHAR); p++)
		;
	return p - s <= FAST_NAME_MAX ? p : NULL;
}

/* A QName (Namespaces in XML §4) at *pp, *pp moved past it; 0 to defer. */
static int fast_qname(const char **pp, const char *e, struct fast_name *n)
{
	const char *p = *pp, *q = fast_ncname(p, e);
	if (!q)
		return 0;
	n->pre = NULL;
	n->local = p;
	if (q < e && *q == ':') {
		const char *r = fast_ncname(q + 1, e);
		if (!r)
			return 0;
		n->pre = p;
		n->local = q + 1;
		q = r;
	}
	n->local_len = (size_t)(q - n->local);
	*pp = q;
	return 1;
}

/* Character data up to the next '<' (or the end); NULL to defer. */
static const char *fast_text(const char *p, const char *e)
{
	static const struct {
		char s[7];
		size_t n;
	} ent[] = {{"&amp;", 5}, {"&lt;", 4}, {"&gt;", 4}, {"&quot;", 6}, {"&apos;", 6}};
	for (;;) {
		while (p < e && cls(p, F_TEXT))
			p++;
		if (p == e || *p == '<')
			return p;
		if (*p == ']') { /* "]]>" may not appear in text (XML 1.0 §2.4) */
			if (e - p >= 3 && p[1] == ']' && p[2] == '>')
				return NULL;
			p++;
			continue;
		}
		size_t n = 0;
		if (*p == '&') {
			for (size_t i = 0; i < sizeof ent / sizeof *ent && !n; i++)
				if ((size_t)(e - p) >= ent[i].n && !memcmp(p, ent[i].s, ent[i].n))
					n = ent[i].n;
		} else {
			n = fast_utf8(p, e);
		}
		if (!n)
			return NULL;
		p += n;
	}
}

/* An attribute value after its opening quote: where the closing one is, or
 * NULL to defer. */
static const char *fast_value(const char *p, const char *e, char quote)
{
	for (;;) {
		while (p < e && cls(p, F_VAL))
			p++;
		if (p == e)
			return NULL;
		if (*p == quote)
			return p;
		size_t n = *p == '"' || *p == '\'' ? 1 : fast_utf8(p, e);
		if (!n)
			return NULL;
		p += n;
	}
}

static __thread struct {
	size_t len;
	char uri[FAST_NS_LEN];
} fast_ns_seen[FAST_NS_SEEN];
static __thread unsigned fast_ns_next;

/* Whether libxml2 takes this as a default namespace name without an error
 * (it refuses one xmlParseURI cannot read, and the two reserved names:
 * Namespaces in XML §3).  Asked of libxml2 itself, once per name a thread
 * sees; a relative name, which it only warns about, is left to it too. */
static int fast_ns_ok(const char *v, size_t n)
{
	if (!n)
		return 1;
	if (n >= FAST_NS_LEN)
		return 0;
	for (unsigned i = 0; i < FAST_NS_SEEN; i++)
		if (fast_ns_seen[i].len == n && !memcmp(fast_ns_seen[i].uri, v, n))
			return 1;
	char z[FAST_NS_LEN];
	memcpy(z, v, n);
	z[n] = 0;
	if (!strcmp(z, (const char *)XML_XML_NAMESPACE) || !strcmp(z, "http://www.w3.org/2000/xmlns/"))
		return 0;
	xmlURIPtr u = xmlParseURI(z);
	int ok = u && u->scheme;
	xmlFreeURI(u);
	if (ok) {
		unsigned i = fast_ns_next++ % FAST_NS_SEEN;
		memcpy(fast_ns_seen[i].uri, z, n + 1);
		fast_ns_seen[i].len = n;
	}
	return ok;
}

static int fast_same(const struct fast_name *a, const struct fast_name *b)
{
	return !a->pre == !b->pre && a->local_len == b->local_len &&
	       !memcmp(a->local, b->local, a->local_len);
}

/* An attribute into t: 0, or -1 to defer (a prefix but xml:lang, a prefixed
 * namespace declaration, one twice, too many). */
static int fast_attr_add(struct fast_tag *t, const struct fast_attr *a)
{
	if (a->n.pre) {
		if (a->n.local - a->n.pre != 4 || memcmp(a->n.pre, "xml:lang", 8) ||
		    a->n.local_len != 4)
			return -1;
	} else if (a->n.local_len == 5 && !memcmp(a->n.local, "xmlns", 5)) {
		if (t->ns || !fast_ns_ok(a->v, (size_t)(a->v_end - a->v)))
			return -1;
		t->ns = a->v;
		t->ns_end = a->v_end;
		return 0;
	}
	if (t->nattrs == FAST_ATTRS)
		return -1;
	for (int i = 0; i < t->nattrs; i++)
		if (fast_same(&t->a[i].n, &a->n))
			return -1;
	t->a[t->nattrs++] = *a;
	return 0;
}

/* A start tag from just past its '<': past its '>', or NULL to defer. */
static const char *fast_start_tag(const char *p, const char *e, struct fast_tag *t)
{
	t->nattrs = 0;
	t->ns = NULL;
	t->empty = 0;
	if (!fast_qname(&p, e, &t->n) || t->n.pre)
		return NULL;
	for (;;) {
		const char *q = fast_space(p, e);
		if (q == e)
			return NULL;
		if (*q == '>')
			return q + 1;
		if (*q == '/') {
			t->empty = 1;
			return e - q >= 2 && q[1] == '>' ? q + 2 : NULL;
		}
		if (q == p) /* attributes are apart (XML 1.0 §3.1) */
			return NULL;
		struct fast_attr a;
		if (!fast_qname(&q, e, &a.n))
			return NULL;
		q = fast_space(q, e);
		if (q == e || *q != '=')
			return NULL;
		q = fast_space(q + 1, e);
		if (q == e || (*q != '"' && *q != '\''))
			return NULL;
		a.v = q + 1;
		if (!(a.v_end = fast_value(a.v, e, *q)) || fast_attr_add(t, &a))
			return NULL;
		p = a.v_end + 1;
	}
}

/* The root's content and end tag, from just past its start tag: past the
 * end tag, or NULL to defer.  *content: the root has any. */
static const char *fast_content(const char *p, const char *e, const struct fast_name *root,
				int *content)
{
	struct fast_name open[FAST_DEPTH];
	struct fast_tag t;
	int depth = 1;
	open[0] = *root;
	*content = 0;
	while (depth) {
		const char *q = fast_text(p, e);
		if (!q || q == e)
			return NULL;
		*content |= q != p;
		p = q + 1;
		if (p < e && *p == '/') {
			struct fast_name n;
			p++;
			if (!fast_qname(&p, e, &n) || n.pre || !fast_same(&n, &open[depth - 1]))
				return NULL;
			p = fast_space(p, e);
			if (p == e || *p != '>')
				return NULL;
			p++;
			depth--;
			continue;
		}
		*content = 1;
		if (depth == FAST_DEPTH || !(p = fast_start_tag(p, e, &t)))
			return NULL;
		if (!t.empty)
			open[depth++] = t.n;
	}
	return p;
}

/* A NUL-terminated copy of n bytes in the scratch area; NULL if it is full. */
static const char *fast_copy(char *area, size_t cap, size_t *used, const char *s, size_t n)
{
	if (cap - *used < n + 1)
		return NULL;
	char *d = area + *used;
	memcpy(d, s, n);
	d[n] = 0;
	*used += n + 1;
	return d;
}

/* The root's start tag in SAX2's form (libxml2's startElementNs arguments)
 * to the callback the libxml2 parse uses: 0, -ENOMEM, or 1 to defer. */
static int fast_root(struct stanza *s, const struct fast_tag *t)
{
	/* Room for every name at its longest: never full, but checked. */
	char area[(FAST_ATTRS + 1) * (FAST_NAME_MAX + 1) + FAST_NS_LEN];
	size_t used = 0;
	const xmlChar *attrs[5 * FAST_ATTRS], *ns[2] = {NULL, NULL};
	const char *local = fast_copy(area, sizeof area, &used, t->n.local, t->n.local_len);
	int full = !local;
	if (t->ns) {
		ns[1] = BAD_CAST fast_copy(area, sizeof area, &used, t->ns,
					   (size_t)(t->ns_end - t->ns));
		full |= !ns[1];
	}
	for (int i = 0; i < t->nattrs; i++) {
		const struct fast_attr *a = &t->a[i];
		const xmlChar **x = attrs + 5 * i;
		x[0] = BAD_CAST fast_copy(area, sizeof area, &used, a->n.local, a->n.local_len);
		x[1] = a->n.pre ? BAD_CAST "xml" : NULL;
		x[2] = a->n.pre ? XML_XML_NAMESPACE : NULL;
		x[3] = BAD_CAST a->v;
		x[4] = BAD_CAST a->v_end;
		full |= !x[0];
	}
	if (full)
		return 1;
	return stanza_head_root(s, BAD_CAST local, NULL, ns[1], t->ns ? 1 : 0, ns, t->nattrs,
				attrs);
}

int stanza_head_fast(const char *bytes, size_t len, struct stanza *s)
{
	const char *e = bytes + len;
	struct fast_tag root;
	int content = 0;
	if (len > FAST_LEN_MAX || !len || *bytes != '<')
		return 0;
	const char *p = fast_start_tag(bytes + 1, e, &root);
	/* xmlns='' on the root: libxml2 gives it no namespace; left to it. */
	if (!p || (root.ns && root.ns == root.ns_end))
		return 0;
	if (!root.empty && !(p = fast_content(p, e, &root.n, &content)))
		return 0;
	if (p != e)
		return 0;
	int rc = fast_root(s, &root);
	if (rc)
		return rc < 0 ? rc : 0;
	s->head_content = content;
	return 1;
}
