/* xstream: the XML stream framer.  See xstream.h.
 *
 * The scanner is a byte-at-a-time state machine whose whole state lives in
 * struct xs_framer, so a chunk may end anywhere (even inside an entity or a
 * CDATA marker) and scanning resumes with the next chunk.  It tracks only what
 * it needs to cut elements, enforce RFC 6120 §11.1 and catch a mismatched end
 * tag the moment it arrives (which libxml2 cannot see until the element is
 * cut); the rest of well-formedness (duplicate attributes, name syntax) is
 * libxml2's job in stanza_parse(). */
#include "xstream.h"

#include <errno.h>
#include <libxml/parser.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"
#include "xmlctx.h"

enum xs_state {
	S_CONTENT = 0, /* text: prolog at depth 0, keepalive space at 1, content below */
	S_CLOSED,      /* after the stream's end tag: only whitespace */
	S_LT,	       /* after '<' */
	S_BANG,	       /* after "<!" */
	S_CDATA_OPEN,  /* inside "<![CDATA[", sub = chars matched */
	S_CDATA,       /* CDATA content, sub = trailing ']' count (0..2) */
	S_PI_TARGET,   /* after "<?" at depth 0, sub = chars of "xml" matched */
	S_PI_BODY,     /* XML declaration body, sub = 1 after '?' */
	S_STAG_NAME,   /* start tag name */
	S_STAG_WS,     /* inside a start tag, between attributes */
	S_ATTR_NAME,
	S_ATTR_EQ,     /* after an attribute name, expecting '=' */
	S_ATTR_Q,      /* after '=', expecting a quote */
	S_ATTR_VAL,    /* sub = the quote character */
	S_AFTER_VAL,   /* after the closing quote */
	S_EMPTY,       /* after '/' in a start tag */
	S_ETAG_START,  /* after "</" */
	S_ETAG_NAME,
	S_ETAG_WS,
	S_ENT,	       /* after '&', name in ent[] */
	S_ERROR,
};

/* f->flags */
enum {
	F_COUNT = 1,	 /* inside a top-level element, header, close tag or XML decl */
	F_NOSAVE = 2,	 /* counting the XML declaration: its bytes are not kept */
	F_DECL_DONE = 4, /* an XML declaration was seen in this stream */
	F_ENT_ATTR = 8,	 /* the entity is inside an attribute value */
};

/* Step results besides 0 (byte consumed) and negative enum xs_error. */
enum {
	A_BEGIN = 1,	/* this '<' starts a top-level unit */
	A_DECL = 2,	/* the unit is the XML declaration */
	A_DECL_END = 3,
	A_OPEN = 4,	/* unit complete: header */
	A_ELEM = 5,	/* unit complete: top-level element */
	A_CLOSE = 6,	/* unit complete: stream end tag */
};

#define ENT_LONG 0xff	  /* ent_len of a name too long for ent[]: never predefined */
#define XS_MAX_DEPTH 1024 /* libxml2 refuses far less; this only keeps depth in range */
#define XS_NAMES_MIN 8	  /* first capacity of the name stack */
#define FNV_BASIS 2166136261u
#define FNV_PRIME 16777619u

/* Hashes (32-bit FNV-1a over the qname bytes) of the open elements of the
 * element in flight: h[0] is the top-level element, h[d - 2] the one opened at
 * depth d.  Hashes rather than names keep the stack small and the scanner
 * free of per-byte copies; a collision could let a mismatched end tag
 * through, but stanza_parse() re-checks every element fully with libxml2, so
 * at worst the error is reported there instead of at once. */
struct xs_names {
	uint32_t cap;
	uint32_t h[];
};

static int is_ws(unsigned c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* Loose XML name classes: non-ASCII bytes are accepted here and checked by libxml2. */
static int is_name_start(unsigned c)
{
	return (c | 0x20) - 'a' < 26 || c == '_' || c == ':' || c >= 0x80;
}

static int is_name_char(unsigned c)
{
	return is_name_start(c) || c - '0' < 10 || c == '-' || c == '.';
}

static int is_hex(unsigned c) { return c - '0' < 10 || (c | 0x20) - 'a' < 6; }

static uint32_t xs_hash(uint32_t h, unsigned c) { return (h ^ c) * FNV_PRIME; }

static void xs_names_free(struct xs_framer *f)
{
	free(f->names);
	f->names = NULL;
}

void xs_init(struct xs_framer *f, uint32_t max_size)
{
	memset(f, 0, sizeof(*f));
	f->max_size = max_size;
}

void xs_reset(struct xs_framer *f)
{
	uint32_t max = f->max_size;
	buf_free(&f->pending);
	xs_names_free(f);
	xs_init(f, max);
}

void xs_free(struct xs_framer *f)
{
	buf_free(&f->pending);
	xs_names_free(f);
}

int xs_between(const struct xs_framer *f)
{
	return f->state == S_CONTENT && f->depth == 1 && !buf_avail(&f->pending);
}

/* Push name_hash for an element opened at depth + 1 >= 2.  The stack is
 * allocated here (freed by xs_tag_close when the top-level element ends, or by
 * xs_fail, xs_reset, xs_free) and grows by doubling; XS_MAX_DEPTH bounds it. */
static int xs_names_push(struct xs_framer *f)
{
	uint32_t i = f->depth - 1u;
	uint32_t cap = f->names ? f->names->cap : 0;

	if (i >= cap) {
		cap = cap ? cap * 2 : XS_NAMES_MIN;
		struct xs_names *n = realloc(f->names, sizeof(*n) + cap * sizeof(n->h[0]));
		if (!n)
			return XS_ERR_NOMEM;
		n->cap = cap;
		f->names = n;
	}
	f->names->h[i] = f->name_hash;
	return 0;
}

/* A start tag ended with '>'. */
static int xs_tag_open(struct xs_framer *f)
{
	f->state = S_CONTENT;
	if (f->depth >= XS_MAX_DEPTH)
		return XS_ERR_TOO_BIG;
	if (f->depth == 0)
		f->stream_hash = f->name_hash;
	else if (xs_names_push(f))
		return XS_ERR_NOMEM;
	return ++f->depth == 1 ? A_OPEN : 0;
}

/* An end tag ended with '>'.  XML 1.0 §3 WFC Element Type Match: it must name
 * the innermost open element; RFC 6120 §4.9.3.13 wants <not-well-formed/> now
 * rather than a stream that waits forever for the element to end. */
static int xs_tag_close(struct xs_framer *f)
{
	uint32_t want = f->depth == 1 ? f->stream_hash : f->names->h[f->depth - 2];

	if (f->name_hash != want)
		return XS_ERR_NOT_WELL_FORMED;
	f->depth--;
	if (f->depth == 0) {
		f->state = S_CLOSED;
		return A_CLOSE;
	}
	f->state = S_CONTENT;
	if (f->depth > 1)
		return 0;
	xs_names_free(f); /* idle connections hold no stack */
	return A_ELEM;
}

static int xs_ent_begin(struct xs_framer *f, int in_attr)
{
	f->state = S_ENT;
	f->ent_len = 0;
	f->flags = (uint8_t)((f->flags & ~F_ENT_ATTR) | (in_attr ? F_ENT_ATTR : 0));
	return 0;
}

static int xs_content(struct xs_framer *f, unsigned c)
{
	if (c == '<') {
		f->state = S_LT;
		return f->depth <= 1 ? A_BEGIN : 0;
	}
	if (f->depth >= 2)
		return c == '&' ? xs_ent_begin(f, 0) : 0;
	/* RFC 6120 §11.7 allows whitespace between top-level elements (keepalives);
	 * any other character data there is not part of the stream's grammar. */
	return is_ws(c) ? 0 : XS_ERR_NOT_WELL_FORMED;
}

static int xs_lt(struct xs_framer *f, unsigned c)
{
	if (is_name_start(c)) {
		f->state = S_STAG_NAME;
		f->name_hash = xs_hash(FNV_BASIS, c);
		return 0;
	}
	switch (c) {
	case '/':
		f->state = S_ETAG_START;
		return f->depth ? 0 : XS_ERR_NOT_WELL_FORMED;
	case '!': /* RFC 6120 §11.1: no comments or DTD; CDATA is checked later */
		f->state = S_BANG;
		return f->depth ? 0 : XS_ERR_RESTRICTED;
	case '?': /* RFC 6120 §11.1: only the XML declaration, before the header */
		if (f->depth || (f->flags & F_DECL_DONE))
			return XS_ERR_RESTRICTED;
		f->state = S_PI_TARGET;
		f->sub = 0;
		return A_DECL;
	default:
		return XS_ERR_NOT_WELL_FORMED;
	}
}

static int xs_bang(struct xs_framer *f, unsigned c)
{
	if (c != '[')
		return XS_ERR_RESTRICTED; /* "<!--", "<!DOCTYPE", "<!ENTITY", ... */
	if (f->depth < 2)
		return XS_ERR_NOT_WELL_FORMED; /* character data between stanzas */
	f->state = S_CDATA_OPEN;
	f->sub = 0;
	return 0;
}

static int xs_cdata(struct xs_framer *f, unsigned c)
{
	static const char open[] = "CDATA[";

	if (f->state == S_CDATA_OPEN) {
		if (c != (unsigned char)open[f->sub])
			return XS_ERR_NOT_WELL_FORMED;
		if (++f->sub == sizeof(open) - 1) {
			f->state = S_CDATA;
			f->sub = 0;
		}
		return 0;
	}
	if (c == ']') {
		if (f->sub < 2)
			f->sub++;
	} else if (c == '>' && f->sub == 2) {
		f->state = S_CONTENT;
	} else {
		f->sub = 0;
	}
	return 0;
}

static int xs_pi(struct xs_framer *f, unsigned c)
{
	if (f->state == S_PI_TARGET) {
		if (f->sub < 3) {
			if (c != (unsigned char)"xml"[f->sub])
				return XS_ERR_RESTRICTED; /* some other PI */
			f->sub++;
			return 0;
		}
		if (!is_ws(c))
			return XS_ERR_RESTRICTED; /* e.g. <?xml-stylesheet */
		f->state = S_PI_BODY;
		f->sub = 0;
		return 0;
	}
	if (c == '>' && f->sub) {
		f->state = S_CONTENT;
		f->flags |= F_DECL_DONE;
		return A_DECL_END;
	}
	if (c == '<')
		return XS_ERR_NOT_WELL_FORMED;
	f->sub = c == '?';
	return 0;
}

static int xs_stag(struct xs_framer *f, unsigned c)
{
	switch (f->state) {
	case S_STAG_NAME:
		if (is_name_char(c)) {
			f->name_hash = xs_hash(f->name_hash, c);
			return 0;
		}
		break;
	case S_AFTER_VAL: /* whitespace is required between attributes */
		if (is_name_start(c))
			return XS_ERR_NOT_WELL_FORMED;
		/* fall through */
	case S_STAG_WS:
		if (is_name_start(c)) {
			f->state = S_ATTR_NAME;
			return 0;
		}
		break;
	default: /* S_EMPTY */
		if (c != '>')
			return XS_ERR_NOT_WELL_FORMED;
		f->state = S_CONTENT;
		if (f->depth == 0)
			return XS_ERR_NOT_WELL_FORMED; /* "<stream/>" is no stream */
		return f->depth == 1 ? A_ELEM : 0;
	}
	if (is_ws(c))
		f->state = S_STAG_WS;
	else if (c == '>')
		return xs_tag_open(f);
	else if (c == '/')
		f->state = S_EMPTY;
	else
		return XS_ERR_NOT_WELL_FORMED;
	return 0;
}

static int xs_attr(struct xs_framer *f, unsigned c)
{
	switch (f->state) {
	case S_ATTR_NAME:
		if (is_name_char(c))
			return 0;
		/* fall through */
	case S_ATTR_EQ:
		if (is_ws(c))
			f->state = S_ATTR_EQ;
		else if (c == '=')
			f->state = S_ATTR_Q;
		else
			return XS_ERR_NOT_WELL_FORMED;
		return 0;
	case S_ATTR_Q:
		if (c == '"' || c == '\'') {
			f->state = S_ATTR_VAL;
			f->sub = (uint8_t)c;
		} else if (!is_ws(c)) {
			return XS_ERR_NOT_WELL_FORMED;
		}
		return 0;
	default: /* S_ATTR_VAL */
		if (c == f->sub)
			f->state = S_AFTER_VAL;
		else if (c == '<')
			return XS_ERR_NOT_WELL_FORMED; /* XML 1.0 [10] AttValue */
		else if (c == '&')
			return xs_ent_begin(f, 1);
		return 0;
	}
}

static int xs_etag(struct xs_framer *f, unsigned c)
{
	if (f->state == S_ETAG_START) {
		if (!is_name_start(c))
			return XS_ERR_NOT_WELL_FORMED;
		f->state = S_ETAG_NAME;
		f->name_hash = xs_hash(FNV_BASIS, c);
		return 0;
	}
	if (f->state == S_ETAG_NAME && is_name_char(c)) {
		f->name_hash = xs_hash(f->name_hash, c);
		return 0;
	}
	if (c == '>')
		return xs_tag_close(f);
	if (!is_ws(c))
		return XS_ERR_NOT_WELL_FORMED;
	f->state = S_ETAG_WS;
	return 0;
}

/* ent[] holds "#", "#x" or a name; char refs keep no leading zeros, so any
 * valid one fits. */
static int xs_ent_end(struct xs_framer *f)
{
	static const char *const predef[] = {"amp", "lt", "gt", "quot", "apos"};
	size_t n = f->ent_len;

	f->state = (f->flags & F_ENT_ATTR) ? S_ATTR_VAL : S_CONTENT;
	if (n == 0)
		return XS_ERR_NOT_WELL_FORMED;
	if (f->ent[0] != '#') {
		for (size_t i = 0; n != ENT_LONG && i < sizeof(predef) / sizeof(predef[0]); i++)
			if (strlen(predef[i]) == n && !memcmp(predef[i], f->ent, n))
				return 0;
		return XS_ERR_RESTRICTED; /* RFC 6120 §11.1: no other entities */
	}
	int hex = n > 1 && f->ent[1] == 'x';
	size_t i = hex ? 2 : 1;
	uint32_t v = 0;
	if (i == n)
		return XS_ERR_NOT_WELL_FORMED; /* "&#;" or "&#x;" */
	for (; i < n; i++) {
		unsigned d = (unsigned char)f->ent[i];
		d = d <= '9' ? d - '0' : (d | 0x20) - 'a' + 10;
		v = v * (hex ? 16 : 10) + d;
	}
	return utf8_xml_char(v) ? 0 : XS_ERR_NOT_WELL_FORMED;
}

static int xs_ent_push(struct xs_framer *f, unsigned c)
{
	if (f->ent_len == ENT_LONG)
		return 0;
	if (f->ent_len == sizeof(f->ent)) {
		if (f->ent[0] == '#')
			return XS_ERR_NOT_WELL_FORMED; /* beyond U+10FFFF */
		f->ent_len = ENT_LONG;
		return 0;
	}
	f->ent[f->ent_len++] = (char)c;
	return 0;
}

static int xs_ent(struct xs_framer *f, unsigned c)
{
	if (c == ';')
		return xs_ent_end(f);
	if (f->ent_len == 0)
		return c == '#' || is_name_start(c) ? xs_ent_push(f, c) : XS_ERR_NOT_WELL_FORMED;
	if (f->ent[0] != '#')
		return is_name_char(c) ? xs_ent_push(f, c) : XS_ERR_NOT_WELL_FORMED;
	if (f->ent_len == 1 && c == 'x')
		return xs_ent_push(f, c);
	int hex = f->ent_len > 1 && f->ent[1] == 'x';
	if (hex ? !is_hex(c) : c - '0' >= 10)
		return XS_ERR_NOT_WELL_FORMED;
	/* Drop leading zeros so that any valid value fits in ent[]. */
	size_t first = hex ? 2u : 1u;
	if (f->ent_len == first + 1 && f->ent[first] == '0')
		f->ent_len--;
	return xs_ent_push(f, c);
}

static int xs_step(struct xs_framer *f, unsigned c)
{
	/* XML 1.0 [2]: C0 controls other than TAB, LF, CR never appear. */
	if (c < 0x20 && !is_ws(c))
		return XS_ERR_NOT_WELL_FORMED;
	switch (f->state) {
	case S_CONTENT: return xs_content(f, c);
	case S_CLOSED: return is_ws(c) ? 0 : XS_ERR_NOT_WELL_FORMED;
	case S_LT: return xs_lt(f, c);
	case S_BANG: return xs_bang(f, c);
	case S_CDATA_OPEN:
	case S_CDATA: return xs_cdata(f, c);
	case S_PI_TARGET:
	case S_PI_BODY: return xs_pi(f, c);
	case S_STAG_NAME:
	case S_STAG_WS:
	case S_AFTER_VAL:
	case S_EMPTY: return xs_stag(f, c);
	case S_ATTR_NAME:
	case S_ATTR_EQ:
	case S_ATTR_Q:
	case S_ATTR_VAL: return xs_attr(f, c);
	case S_ETAG_START:
	case S_ETAG_NAME:
	case S_ETAG_WS: return xs_etag(f, c);
	case S_ENT: return xs_ent(f, c);
	default: return XS_ERR_NOT_WELL_FORMED; /* S_ERROR: fed after an error */
	}
}

/* Hand a complete unit to the callback: straight from data when it began in
 * this chunk, else from pending.  Returns the callback's verdict or an error. */
static int xs_deliver(struct xs_framer *f, int act, const char *data, size_t start, size_t end,
		      xs_callback cb, void *arg)
{
	static const enum xs_event ev[] = {[A_OPEN] = XS_STREAM_OPEN, [A_ELEM] = XS_ELEMENT,
					   [A_CLOSE] = XS_STREAM_CLOSE};
	const char *p = data + start;
	size_t n = end - start;

	if (buf_avail(&f->pending)) {
		if (buf_append(&f->pending, p, n))
			return XS_ERR_NOMEM;
		p = buf_head(&f->pending);
		n = buf_avail(&f->pending);
	}
	f->flags &= (uint8_t)~F_COUNT;
	f->elem_len = 0;
	int r = cb(arg, ev[act], p, n);
	buf_reset(&f->pending); /* idle connections hold no buffer */
	if (r == XS_CB_STOP)
		return XS_ERR_STOPPED;
	if (r == XS_CB_RESTART)
		xs_reset(f); /* RFC 6120 §5.3.3, §6.4.6: the next bytes are a new header */
	return 0;
}

static int xs_fail(struct xs_framer *f, int err)
{
	buf_reset(&f->pending);
	xs_names_free(f);
	f->state = S_ERROR;
	return err;
}

/* The rest of a name from p: what xs_step would do byte by byte (an element
 * name's bytes go into its hash), without a call and a switch per byte. */
static size_t xs_name_run(struct xs_framer *f, const char *p, size_t n)
{
	size_t i = 0;
	if (f->state == S_ATTR_NAME) {
		while (i < n && is_name_char((unsigned char)p[i]))
			i++;
		return i;
	}
	uint32_t h = f->name_hash;
	for (; i < n && is_name_char((unsigned char)p[i]); i++)
		h = xs_hash(h, (unsigned char)p[i]);
	f->name_hash = h;
	return i;
}

/* Bytes from p that change no state but a name's hash: character data
 * inside an element, an attribute value up to its quote, the rest of a name.
 * Anything that could matter ('<', '&', the closing quote, a C0 control, the
 * end of the name) stops the run and goes through xs_step. */
static size_t xs_text_run(struct xs_framer *f, const char *p, size_t n)
{
	unsigned quote;
	if (f->state == S_CONTENT && f->depth >= 2)
		quote = '<'; /* stands in for "no quote": '<' stops the run anyway */
	else if (f->state == S_ATTR_VAL)
		quote = f->sub;
	else if (f->state == S_STAG_NAME || f->state == S_ETAG_NAME || f->state == S_ATTR_NAME)
		return xs_name_run(f, p, n);
	else
		return 0;
	size_t i = 0;
	while (i < n) {
		unsigned c = (unsigned char)p[i];
		if (c == '<' || c == '&' || c == quote || (c < 0x20 && !is_ws(c)))
			break;
		i++;
	}
	return i;
}

int xs_feed(struct xs_framer *f, const char *data, size_t len, xs_callback cb, void *arg)
{
	size_t start = 0; /* where the unit in flight begins in data */

	for (size_t i = 0; i < len; i++) {
		size_t run = xs_text_run(f, data + i, len - i);
		if (run) {
			/* A unit in flight counts every byte toward the size limit
			 * (elem_len <= max_size holds between bytes). */
			if (f->flags & F_COUNT) {
				if (run > f->max_size - f->elem_len)
					return xs_fail(f, XS_ERR_TOO_BIG);
				f->elem_len += (uint32_t)run;
			}
			i += run;
			if (i == len)
				break;
		}
		int a = xs_step(f, (unsigned char)data[i]);
		if (a < 0)
			return xs_fail(f, a);
		if (a == A_BEGIN) {
			start = i;
			f->flags |= F_COUNT;
			f->elem_len = 0;
		}
		/* Checked per byte so an oversized unit is refused before it is buffered. */
		if ((f->flags & F_COUNT) && ++f->elem_len > f->max_size)
			return xs_fail(f, XS_ERR_TOO_BIG);
		if (a == A_DECL) {
			buf_reset(&f->pending);
			f->flags |= F_NOSAVE;
		} else if (a == A_DECL_END) {
			f->flags &= (uint8_t)~(F_COUNT | F_NOSAVE);
		} else if (a >= A_OPEN) {
			int r = xs_deliver(f, a, data, start, i + 1, cb, arg);
			if (r < 0)
				return r == XS_ERR_STOPPED ? r : xs_fail(f, r);
		}
	}
	if ((f->flags & (F_COUNT | F_NOSAVE)) == F_COUNT &&
	    buf_append(&f->pending, data + start, len - start))
		return xs_fail(f, XS_ERR_NOMEM);
	return 0;
}

static char *xs_dup_prop(xmlChar *v, int *err)
{
	if (!v)
		return NULL;
	char *s = strdup((const char *)v);
	xmlFree(v);
	if (!s)
		*err = XS_ERR_NOMEM;
	return s;
}

static int xs_header_fill(xmlNodePtr root, struct xs_header *h)
{
	int err = 0;

	/* With an unbound prefix libxml2 keeps the qname as the name; judge its
	 * local part so that the cm answers <invalid-namespace/>. */
	const char *local = strrchr((const char *)root->name, ':');
	h->name_ok = !strcmp(local ? local + 1 : (const char *)root->name, "stream");
	h->stream_ns_ok = root->ns && root->ns->href &&
			  !strcmp((const char *)root->ns->href, "http://etherx.jabber.org/streams");
	/* RFC 6120 §4.8.2: the content namespace is the default one declared here. */
	for (xmlNsPtr ns = root->nsDef; ns; ns = ns->next)
		if (!ns->prefix && ns->href)
			h->content_ns_ok = !strcmp((const char *)ns->href, "jabber:client");
	h->to = xs_dup_prop(xmlGetNoNsProp(root, BAD_CAST "to"), &err);
	h->from = xs_dup_prop(xmlGetNoNsProp(root, BAD_CAST "from"), &err);
	h->id = xs_dup_prop(xmlGetNoNsProp(root, BAD_CAST "id"), &err);
	h->version = xs_dup_prop(xmlGetNoNsProp(root, BAD_CAST "version"), &err);
	h->lang = xs_dup_prop(xmlGetNsProp(root, BAD_CAST "lang", XML_XML_NAMESPACE), &err);
	return err;
}

int xs_parse_header(const char *bytes, size_t len, struct xs_header *h)
{
	memset(h, 0, sizeof(*h));
	if (len < 2 || bytes[0] != '<' || len > INT_MAX / 2)
		return XS_ERR_NOT_WELL_FORMED;
	size_t q = 1;
	while (q < len && !is_ws((unsigned char)bytes[q]) && bytes[q] != '>' && bytes[q] != '/')
		q++;
	/* Close the start tag so libxml2 sees a whole document. */
	size_t n = len + 2 + (q - 1) + 1;
	char *doc_text = malloc(n); /* freed below */
	if (!doc_text)
		return XS_ERR_NOMEM;
	memcpy(doc_text, bytes, len);
	memcpy(doc_text + len, "</", 2);
	memcpy(doc_text + len + 2, bytes + 1, q - 1);
	doc_text[n - 1] = '>';
	/* RFC 6120 §11.6 (UTF-8 only), §11.1 (no DTD, no entity expansion).
	 * The thread's context, as for stanzas: a new one per header cost more
	 * than the parse. */
	struct xmlctx_status st;
	xmlDocPtr doc = xmlctx_read(doc_text, n,
				    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING, &st);
	free(doc_text);
	xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
	int err = st.nomem ? XS_ERR_NOMEM : XS_ERR_NOT_WELL_FORMED;
	if (root && !doc->intSubset)
		err = xs_header_fill(root, h);
	xmlFreeDoc(doc);
	if (err)
		xs_header_free(h);
	return err;
}

void xs_header_free(struct xs_header *h)
{
	free(h->to);
	free(h->from);
	free(h->id);
	free(h->version);
	free(h->lang);
	memset(h, 0, sizeof(*h));
}
