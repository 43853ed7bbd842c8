#include "sasl2.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "c2s.h"
#include "conn.h"
#include "lib/buf.h"
#include "lib/jid.h"
#include "lib/scram.h"
#include "sm.h"
#include "csi.h"

/* Random hex digits after a Bind 2 tag: 64 bits, as RFC 6120 §7.6 binds. */
#define SASL2_RANDOM_BYTES 8

int sasl_decode(xmlNodePtr n, size_t max, int sasl2, char **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	char *text = stanza_text(n);
	if (!text)
		return -ENOMEM;
	size_t tl = strlen(text);
	int rc = 0;
	if (tl > max) {
		rc = -EMSGSIZE;
	} else if (tl == 0 ? sasl2 : !sasl2 && !strcmp(text, "=")) {
		*out = calloc(1, 1); /* data of length zero */
		rc = *out ? 0 : -ENOMEM;
	} else if (tl) {
		uint8_t *d = base64_decode(text, tl, len);
		char *s = d ? realloc(d, *len + 1) : NULL;
		if (!s) {
			free(d);
			rc = d ? -ENOMEM : -EINVAL;
		} else {
			s[*len] = 0;
			*out = s;
		}
	}
	free(text);
	return rc;
}

void sasl2_request_free(struct sasl2_request *r)
{
	xmlFree(r->mech);
	free(r->initial);
	free(r->tag);
	xmlFreeNode(r->sm_enable);
	memset(r, 0, sizeof *r);
}

/* XEP-0386 §3.2: <bind/> with an optional <tag/>. */
static int read_bind(xmlNodePtr auth, struct sasl2_request *r)
{
	xmlNodePtr b = stanza_child(auth, NS_BIND2, "bind");
	if (!b)
		return 0;
	r->bind = 1;
	xmlNodePtr t = stanza_child(b, NS_BIND2, "tag");
	if (t && !(r->tag = stanza_text(t)))
		return -ENOMEM;
	xmlNodePtr sm = stanza_child(b, SM_NS, "enable");
	if (sm && !(r->sm_enable = xmlCopyNode(sm, 1)))
		return -ENOMEM;
	r->inactive = stanza_child(b, CSI_NS, "inactive") != NULL;
	r->carbons = stanza_child(b, NS_CARBONS, "enable") != NULL;
	return 0;
}

int sasl2_parse_authenticate(const struct stanza *s, size_t max, struct sasl2_request *r)
{
	memset(r, 0, sizeof *r);
	r->mech = (char *)xmlGetProp(s->root, (const xmlChar *)"mechanism");
	int rc = r->mech && *r->mech ? 0 : -ENOENT;
	/* §2.2: no <initial-response/> means none, not an empty one. */
	xmlNodePtr ir = rc ? NULL : stanza_child(s->root, NS_SASL2, "initial-response");
	if (ir)
		rc = sasl_decode(ir, max, 1, &r->initial, &r->initial_len);
	if (!rc)
		rc = read_bind(s->root, r);
	/* <user-agent/> (§2.3) names the client; nothing here depends on it. */
	if (rc)
		sasl2_request_free(r);
	return rc;
}

void sasl2_features(struct worker *w, struct conn *c, const char *const *names, size_t n)
{
	if (!n)
		return;
	conn_send_str(w, c, "<authentication xmlns='" NS_SASL2 "'>");
	for (size_t i = 0; i < n; i++) {
		conn_send_str(w, c, "<mechanism>");
		conn_send_str(w, c, names[i]);
		conn_send_str(w, c, "</mechanism>");
	}
	conn_send_str(w, c, "<inline><bind xmlns='" NS_BIND2 "'><inline>"
			    "<feature var='" SM_NS "'/><feature var='" CSI_NS "'/>"
			    "<feature var='" NS_CARBONS "'/>"
			    "</inline></bind></inline></authentication>");
}

void sasl2_resource(const char *tag, char *out, size_t cap)
{
	if (cap > JID_PART_MAX + 1)
		cap = JID_PART_MAX + 1; /* RFC 7622 §3.4: a resourcepart's bound */
	char rnd[2 * SASL2_RANDOM_BYTES + 1];
	c2s_random_hex(rnd, SASL2_RANDOM_BYTES);
	char t[JID_PART_MAX + 1];
	/* The tag is the client's; one that is no resourcepart, or that leaves
	 * no room for the random part, is dropped rather than failing a login
	 * that succeeded. */
	if (tag && *tag && !jid_prep_resource(tag, t, sizeof t) &&
	    strlen(t) + 1 + sizeof rnd <= cap) {
		snprintf(out, cap, "%s/%s", t, rnd);
		return;
	}
	snprintf(out, cap, "%s", rnd);
}

int sasl2_success_head(struct worker *w, struct conn *c, const char *final, size_t final_len,
		       const char *authzid)
{
	struct buf b = {0};
	char *b64 = final ? base64_encode((const uint8_t *)final, final_len) : NULL;
	int rc = buf_append_str(&b, "<success xmlns='" NS_SASL2 "'>");
	if (!rc && b64)
		rc = buf_append_str(&b, "<additional-data>") || buf_append_str(&b, b64) ||
		     buf_append_str(&b, "</additional-data>");
	if (!rc)
		rc = buf_append_str(&b, "<authorization-identifier>") ||
		     buf_append_xml_escaped(&b, authzid, strlen(authzid)) ||
		     buf_append_str(&b, "</authorization-identifier>");
	/* Out of memory here would leave the client waiting; the connection's
	 * own send path reports the same shortage by closing it. */
	rc = rc || (final && !b64) ? -ENOMEM : 0;
	if (rc)
		conn_close(w, c);
	else
		conn_send(w, c, buf_head(&b), buf_avail(&b));
	free(b64);
	buf_free(&b);
	return rc;
}

void sasl2_failure(struct worker *w, struct conn *c, const char *cond, const char *text)
{
	conn_send_str(w, c, "<failure xmlns='" NS_SASL2 "'><");
	conn_send_str(w, c, cond);
	conn_send_str(w, c, " xmlns='" NS_SASL "'/>");
	struct buf t = {0};
	if (text && buf_append_xml_escaped(&t, text, strlen(text)) == 0) {
		conn_send_str(w, c, "<text xml:lang='en'>");
		conn_send(w, c, buf_head(&t), buf_avail(&t));
		conn_send_str(w, c, "</text>");
	}
	buf_free(&t);
	conn_send_str(w, c, "</failure>");
}
