/* Fuzz target for lib/stanza.c: parse any bytes; whatever parses must
 * serialise to something that starts with the stanza's name, reparses to the
 * same routing header, and serialises again to the same bytes.  The
 * tree-less parse (lib/stanza_head.c) must agree with the tree on every
 * input: the same verdict, header and serialised bytes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/stanza.h"

static void fuzz_stanza_check(const struct stanza *s, const struct buf *out)
{
	struct stanza t;
	struct buf again = {0};

	if (stanza_parse(buf_head(out), buf_avail(out), &t) != 0)
		abort();
	if (t.kind != s->kind || t.type != s->type || t.from || t.to)
		abort();
	if ((s->id == NULL) != (t.id == NULL) || (s->id && strcmp(s->id, t.id)))
		abort();
	if (strcmp(s->name, t.name))
		abort();
	if (stanza_serialize(&t, &again) != 0 || buf_avail(&again) != buf_avail(out) ||
	    memcmp(buf_head(&again), buf_head(out), buf_avail(out)))
		abort();
	buf_free(&again);
	stanza_free(&t);
}

static int same_str(const char *a, const char *b) { return a == b || (a && b && !strcmp(a, b)); }

static void fuzz_stanza_head(const uint8_t *data, size_t size, int tree_rc, const struct stanza *s,
			     int ser_rc, const struct buf *out)
{
	struct stanza h;
	struct buf again = {0};
	int rc = stanza_parse_head((const char *)data, size, &h);
	if (rc != tree_rc)
		abort();
	if (rc == 0) {
		if (h.kind != s->kind || h.type != s->type || !same_str(h.id, s->id) ||
		    !same_str(h.from, s->from) || !same_str(h.to, s->to) || !same_str(h.ns, s->ns) ||
		    !same_str(h.name, s->name))
			abort();
		if (stanza_serialize(&h, &again) != ser_rc || buf_avail(&again) != buf_avail(out) ||
		    memcmp(buf_head(&again), buf_head(out), buf_avail(out)))
			abort();
	}
	buf_free(&again);
	stanza_free(&h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stanza s;
	struct buf out = {0};

	int parsed = stanza_parse((const char *)data, size, &s);
	if (parsed != 0) {
		fuzz_stanza_head(data, size, parsed, &s, 0, &out);
		stanza_free(&s);
		return 0;
	}
	int rc = stanza_serialize(&s, &out);
	fuzz_stanza_head(data, size, 0, &s, rc, &out);
	if (rc == 0) {
		if (s.kind != STANZA_OTHER) {
			const char *k = stanza_kind_name(s.kind);
			if (buf_avail(&out) < strlen(k) + 1 || buf_head(&out)[0] != '<' ||
			    memcmp(buf_head(&out) + 1, k, strlen(k)))
				abort();
		}
		fuzz_stanza_check(&s, &out);
	} else if (rc != -EBADMSG && rc != -ENOMEM) {
		abort();
	}
	char *t = stanza_text(s.root);
	free(t);
	(void)stanza_child(s.root, NULL, NULL);
	buf_free(&out);
	stanza_free(&s);
	return 0;
}
