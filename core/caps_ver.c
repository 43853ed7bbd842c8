/* caps_ver: the string S of XEP-0115 §5.1, built from a disco#info result
 * and hashed.  Every list in S is sorted with "i;octet" collation (RFC 4790
 * §9.3), which is strcmp() on the UTF-8 that libxml2 keeps (it compares as
 * unsigned char), so the hash does not depend on the order of the elements.
 * What §5.4 step 3 calls ill-formed is refused, never hashed: two entries that
 * sort equal would make S the same for results that differ.  The '<'
 * separators are not escaped, as the spec says (§9.3: caps poisoning). */
#include "caps_ver.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "disco.h"
#include "lib/buf.h"

#define CAPS_XDATA_NS  "jabber:x:data" /* XEP-0004 */
#define CAPS_FORM_TYPE "FORM_TYPE"     /* XEP-0068 */

_Static_assert(4 * ((SHA_DIGEST_LENGTH + 2) / 3) == CAPS_VER_LEN, "base64 of a SHA-1 digest");

/* Strings from libxml2, each owned by the array (xmlFree). */
struct caps_strs {
	xmlChar **v;
	size_t n, cap;
};

/* A piece of S that sorts by key, already written out: a form field (key:
 * its var) or a form (key: its FORM_TYPE).  The part owns key and text. */
struct caps_part {
	xmlChar *key;
	struct buf text;
};

struct caps_parts {
	struct caps_part *v;
	size_t n, cap;
};

/* An identity is CAPS_ID_PARTS strings in a row of a caps_strs, in the order
 * §5.1 step 2 sorts them; an absent xml:lang or name is the empty string,
 * which S writes the same way ("each slash is included"). */
enum { CAPS_ID_CATEGORY, CAPS_ID_TYPE, CAPS_ID_LANG, CAPS_ID_NAME, CAPS_ID_PARTS };

/* What a disco#info result puts into S; freed by caps_info_free(). */
struct caps_info {
	struct caps_strs ids;
	struct caps_strs features;
	struct caps_parts forms;
};

/* v with room for element n of sz bytes, grown when full; NULL when out of
 * memory (v is then still valid and still the caller's). */
static void *caps_grow(void *v, size_t n, size_t *cap, size_t sz)
{
	if (n < *cap)
		return v;
	size_t c = *cap ? *cap * 2 : 8;
	v = reallocarray(v, c, sz);
	if (v)
		*cap = c;
	return v;
}

/* Takes s, also on failure; a NULL s is a libxml2 allocation that failed. */
static int caps_strs_push(struct caps_strs *a, xmlChar *s)
{
	xmlChar **v = s ? caps_grow(a->v, a->n, &a->cap, sizeof *a->v) : NULL;
	if (!v) {
		xmlFree(s);
		return -ENOMEM;
	}
	a->v = v;
	a->v[a->n++] = s;
	return 0;
}

static void caps_strs_free(struct caps_strs *a)
{
	for (size_t i = 0; i < a->n; i++)
		xmlFree(a->v[i]);
	free(a->v);
	*a = (struct caps_strs){0};
}

/* Takes key and the storage of text (text is left empty), also on failure. */
static int caps_parts_push(struct caps_parts *a, xmlChar *key, struct buf *text)
{
	struct caps_part *v = caps_grow(a->v, a->n, &a->cap, sizeof *a->v);
	if (!v) {
		xmlFree(key);
		buf_free(text);
		return -ENOMEM;
	}
	a->v = v;
	a->v[a->n++] = (struct caps_part){key, *text};
	*text = (struct buf){0};
	return 0;
}

static void caps_parts_free(struct caps_parts *a)
{
	for (size_t i = 0; i < a->n; i++) {
		xmlFree(a->v[i].key);
		buf_free(&a->v[i].text);
	}
	free(a->v);
	*a = (struct caps_parts){0};
}

static void caps_info_free(struct caps_info *in)
{
	caps_strs_free(&in->ids);
	caps_strs_free(&in->features);
	caps_parts_free(&in->forms);
}

static int caps_cmp(const xmlChar *a, const xmlChar *b)
{
	return strcmp((const char *)a, (const char *)b);
}

static int caps_str_cmp(const void *a, const void *b)
{
	return caps_cmp(*(xmlChar *const *)a, *(xmlChar *const *)b);
}

/* By category, type, xml:lang, then name (§5.1 step 2).  Not on the joined
 * "category/type/lang/name": '/' would then sort against the bytes of the
 * values ("a-b/x" before "a/x" though "a" < "a-b"). */
static int caps_id_cmp(const void *a, const void *b)
{
	xmlChar *const *x = a, *const *y = b;
	int c = 0;
	for (int i = 0; !c && i < CAPS_ID_PARTS; i++)
		c = caps_cmp(x[i], y[i]);
	return c;
}

static int caps_part_cmp(const void *a, const void *b)
{
	return caps_cmp(((const struct caps_part *)a)->key, ((const struct caps_part *)b)->key);
}

/* Sorts n elements of sz bytes; -EINVAL when two compare equal (§5.4 steps
 * 3.3 to 3.5).  qsort() is not called on n < 2: v may then be NULL. */
static int caps_sort_unique(void *v, size_t n, size_t sz, int (*cmp)(const void *, const void *))
{
	if (n < 2)
		return 0;
	qsort(v, n, sz, cmp);
	for (size_t i = 1; i < n; i++)
		if (!cmp((char *)v + (i - 1) * sz, (char *)v + i * sz))
			return -EINVAL;
	return 0;
}

/* 1 when n is the element {ns}name. */
static int caps_is(xmlNodePtr n, const char *ns, const char *name)
{
	return n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
	       !strcmp((const char *)n->ns->href, ns) && !strcmp((const char *)n->name, name);
}

/* *v: n's attribute name in namespace ns (NULL: none, not xmlGetProp's any),
 * or a copy of dflt when n has none.  The caller frees *v (xmlFree).
 * -EINVAL when the attribute is absent and there is no dflt; -ENOMEM. */
static int caps_attr(xmlNodePtr n, const char *name, const xmlChar *ns, const char *dflt,
                     xmlChar **v)
{
	*v = NULL;
	if (xmlHasNsProp(n, BAD_CAST name, ns))
		*v = xmlGetNsProp(n, BAD_CAST name, ns);
	else if (dflt)
		*v = xmlStrdup(BAD_CAST dflt);
	else
		return -EINVAL;
	return *v ? 0 : -ENOMEM;
}

/* 1 when n's attribute name (no namespace) is value, 0 when not or absent, -ENOMEM. */
static int caps_attr_is(xmlNodePtr n, const char *name, const char *value)
{
	xmlChar *v;
	int rc = caps_attr(n, name, NULL, "", &v);
	if (!rc)
		rc = !strcmp((const char *)v, value);
	xmlFree(v);
	return rc;
}

/* §5.1 step 2: the sort keys of an identity.  XEP-0030 §3.1 requires
 * category and type, and S has no way to write one missing: -EINVAL. */
static int caps_identity(xmlNodePtr n, struct caps_strs *ids)
{
	static const struct {
		const char *name;
		const xmlChar *ns;
		const char *dflt;
	} keys[CAPS_ID_PARTS] = {
	    [CAPS_ID_CATEGORY] = {"category", NULL, NULL},
	    [CAPS_ID_TYPE] = {"type", NULL, NULL},
	    [CAPS_ID_LANG] = {"lang", XML_XML_NAMESPACE, ""},
	    [CAPS_ID_NAME] = {"name", NULL, ""},
	};
	for (int i = 0; i < CAPS_ID_PARTS; i++) {
		xmlChar *v;
		int rc = caps_attr(n, keys[i].name, keys[i].ns, keys[i].dflt, &v);
		if (!rc)
			rc = caps_strs_push(ids, v);
		if (rc)
			return rc; /* ids is dropped whole: a partial row does no harm */
	}
	return 0;
}

/* §5.1 step 4; a feature is its var (XEP-0030 §3.1 requires it). */
static int caps_feature(xmlNodePtr n, struct caps_strs *features)
{
	xmlChar *var;
	int rc = caps_attr(n, "var", NULL, NULL, &var);
	return rc ? rc : caps_strs_push(features, var);
}

/* The XML character data of every <value/> of field f (XEP-0004 §3.2). */
static int caps_values(xmlNodePtr f, struct caps_strs *vals)
{
	int rc = 0;
	for (xmlNodePtr v = f->children; !rc && v; v = v->next)
		if (caps_is(v, CAPS_XDATA_NS, "value"))
			rc = caps_strs_push(vals, xmlNodeGetContent(v));
	return rc;
}

/* s then '<', which follows every item of S (§5.1). */
static int caps_append(struct buf *b, const xmlChar *s)
{
	int rc = buf_append_str(b, (const char *)s);
	return rc ? rc : buf_append(b, "<", 1);
}

static int caps_parts_append(struct buf *b, const struct caps_parts *a)
{
	int rc = 0;
	for (size_t i = 0; !rc && i < a->n; i++)
		rc = buf_append(b, buf_head(&a->v[i].text), buf_avail(&a->v[i].text));
	return rc;
}

/* §5.1 step 7.3: var '<', then the values sorted, each followed by '<'.
 * Repeated values are no error: §5.4 does not forbid them. */
static int caps_field_text(xmlNodePtr f, const xmlChar *var, struct buf *text)
{
	struct caps_strs vals = {0};
	int rc = caps_values(f, &vals);
	if (!rc && vals.n > 1)
		qsort(vals.v, vals.n, sizeof *vals.v, caps_str_cmp);
	if (!rc)
		rc = caps_append(text, var);
	for (size_t i = 0; !rc && i < vals.n; i++)
		rc = caps_append(text, vals.v[i]);
	caps_strs_free(&vals);
	return rc;
}

/* Every field of form x but FORM_TYPE, written out and keyed by var.  A field
 * without var (XEP-0004 allows it for type fixed) has nothing for step 7.3.1
 * to append and would go unhashed: -EINVAL. */
static int caps_fields(xmlNodePtr x, struct caps_parts *fields)
{
	for (xmlNodePtr f = x->children; f; f = f->next) {
		if (!caps_is(f, CAPS_XDATA_NS, "field"))
			continue;
		xmlChar *var;
		struct buf text = {0};
		int rc = caps_attr(f, "var", NULL, NULL, &var);
		if (rc)
			return rc;
		if (!caps_cmp(var, BAD_CAST CAPS_FORM_TYPE)) {
			xmlFree(var);
			continue;
		}
		rc = caps_field_text(f, var, &text);
		if (rc) {
			xmlFree(var);
			buf_free(&text);
			return rc;
		}
		rc = caps_parts_push(fields, var, &text);
		if (rc)
			return rc;
	}
	return 0;
}

/* *ft: the FORM_TYPE field (XEP-0068) of form x.  1 when found, 0 when x has
 * none; -EINVAL when it has two, which leaves the form's type undecided. */
static int caps_form_type_field(xmlNodePtr x, xmlNodePtr *ft)
{
	*ft = NULL;
	for (xmlNodePtr f = x->children; f; f = f->next) {
		if (!caps_is(f, CAPS_XDATA_NS, "field"))
			continue;
		int is = caps_attr_is(f, "var", CAPS_FORM_TYPE);
		if (is < 0)
			return is;
		if (is && *ft)
			return -EINVAL;
		if (is)
			*ft = f;
	}
	return *ft != NULL;
}

/* 1 when form x goes into S, with *ft its FORM_TYPE field; 0 when it is left
 * out: a form not of type result is no extended information (XEP-0128), and
 * §5.4 step 3.6 ignores a form whose FORM_TYPE is missing or not hidden. */
static int caps_form_counts(xmlNodePtr x, xmlNodePtr *ft)
{
	int rc = caps_attr_is(x, "type", "result");
	if (rc > 0)
		rc = caps_form_type_field(x, ft);
	if (rc > 0)
		rc = caps_attr_is(*ft, "type", "hidden");
	return rc;
}

/* *type: the FORM_TYPE's value, the caller's to free.  §5.4 step 3.5: its
 * <value/>s may repeat but not differ (-EINVAL); with none, step 7.1 has
 * nothing to append and the form nothing to sort by (-EINVAL too). */
static int caps_form_type(xmlNodePtr ft, xmlChar **type)
{
	struct caps_strs vals = {0};
	int rc = caps_values(ft, &vals);
	if (!rc && !vals.n)
		rc = -EINVAL;
	for (size_t i = 1; !rc && i < vals.n; i++)
		if (caps_cmp(vals.v[0], vals.v[i]))
			rc = -EINVAL;
	*type = NULL;
	if (!rc) {
		*type = vals.v[0];
		vals.v[0] = NULL;
	}
	caps_strs_free(&vals);
	return rc;
}

/* §5.1 step 7: FORM_TYPE '<', then the other fields sorted by var.  Two
 * fields with one var would sort in no defined order; XEP-0004 §3.2 makes
 * var unique in a form, so they are refused (-EINVAL). */
static int caps_form_text(xmlNodePtr x, const xmlChar *type, struct buf *text)
{
	struct caps_parts fields = {0};
	int rc = caps_fields(x, &fields);
	if (!rc)
		rc = caps_sort_unique(fields.v, fields.n, sizeof *fields.v, caps_part_cmp);
	if (!rc)
		rc = caps_append(text, type);
	if (!rc)
		rc = caps_parts_append(text, &fields);
	caps_parts_free(&fields);
	return rc;
}

/* An extended form written out into forms, keyed by FORM_TYPE, or left out. */
static int caps_form(xmlNodePtr x, struct caps_parts *forms)
{
	xmlNodePtr ft = NULL;
	xmlChar *type = NULL;
	struct buf text = {0};
	int rc = caps_form_counts(x, &ft);
	if (rc <= 0)
		return rc;
	rc = caps_form_type(ft, &type);
	if (!rc)
		rc = caps_form_text(x, type, &text);
	if (!rc)
		return caps_parts_push(forms, type, &text);
	xmlFree(type);
	buf_free(&text);
	return rc;
}

/* The query's children that S is made of; other elements, and identities or
 * features in another namespace, are not part of the result (§5.1). */
static int caps_collect(xmlNodePtr query, struct caps_info *in)
{
	int rc = 0;
	for (xmlNodePtr n = query->children; !rc && n; n = n->next) {
		if (caps_is(n, DISCO_INFO_NS, "identity"))
			rc = caps_identity(n, &in->ids);
		else if (caps_is(n, DISCO_INFO_NS, "feature"))
			rc = caps_feature(n, &in->features);
		else if (caps_is(n, CAPS_XDATA_NS, "x"))
			rc = caps_form(n, &in->forms);
	}
	return rc;
}

/* §5.1 step 3: category '/' type '/' lang '/' name '<'. */
static int caps_append_identity(struct buf *s, xmlChar *const *id)
{
	static const char sep[CAPS_ID_PARTS] = {'/', '/', '/', '<'};
	int rc = 0;
	for (int i = 0; !rc && i < CAPS_ID_PARTS; i++) {
		rc = buf_append_str(s, (const char *)id[i]);
		if (!rc)
			rc = buf_append(s, &sep[i], 1);
	}
	return rc;
}

/* S (§5.1 steps 2 to 7) into s; -EINVAL for the duplicates of §5.4 steps
 * 3.3 (identities), 3.4 (features) and 3.5 (forms). */
static int caps_build(struct caps_info *in, struct buf *s)
{
	size_t nid = in->ids.n / CAPS_ID_PARTS;
	int rc = caps_sort_unique(in->ids.v, nid, CAPS_ID_PARTS * sizeof *in->ids.v, caps_id_cmp);
	if (!rc)
		rc = caps_sort_unique(in->features.v, in->features.n, sizeof *in->features.v,
		                      caps_str_cmp);
	if (!rc)
		rc = caps_sort_unique(in->forms.v, in->forms.n, sizeof *in->forms.v, caps_part_cmp);
	for (size_t i = 0; !rc && i < nid; i++)
		rc = caps_append_identity(s, in->ids.v + i * CAPS_ID_PARTS);
	for (size_t i = 0; !rc && i < in->features.n; i++)
		rc = caps_append(s, in->features.v[i]);
	if (!rc)
		rc = caps_parts_append(s, &in->forms);
	return rc;
}

/* §5.1 step 9: SHA-1, base64 with padding and no line breaks (what
 * EVP_EncodeBlock writes, NUL included).  With SHA-1 from the default
 * provider EVP_Digest fails when OpenSSL cannot allocate: -ENOMEM. */
static int caps_hash(const struct buf *s, char out[CAPS_VER_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	/* An empty S has no storage: hash "" rather than pass NULL. */
	const char *p = buf_avail(s) ? buf_head(s) : "";
	if (!EVP_Digest(p, buf_avail(s), md, &len, EVP_sha1(), NULL) || len != SHA_DIGEST_LENGTH)
		return -ENOMEM;
	EVP_EncodeBlock((unsigned char *)out, md, (int)len);
	return 0;
}

int caps_ver_sha1(xmlNodePtr query, char out[CAPS_VER_LEN + 1])
{
	struct caps_info in = {0};
	struct buf s = {0};
	int rc = -EINVAL;
	out[0] = '\0';
	if (query && caps_is(query, DISCO_INFO_NS, "query"))
		rc = caps_collect(query, &in);
	if (!rc)
		rc = caps_build(&in, &s);
	if (!rc)
		rc = caps_hash(&s, out);
	caps_info_free(&in);
	buf_free(&s);
	return rc;
}
