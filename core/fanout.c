/* fanout: the broadcast list of a user, kept while the user broadcasts more
 * than once (fanout.h says why). */
#include "fanout.h"

#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "store.h"

/* One allocation: the array and the strings after it. */
static struct fanout *load(struct core *c, const char *bare, int64_t ver)
{
	struct store_item *items = NULL;
	size_t n = 0, k = 0, bytes = 0;
	if (store_roster_load(c->store, bare, &items, &n))
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (items[i].sub & STORE_SUB_FROM) {
			k++;
			bytes += strlen(items[i].contact) + 1;
		}
	struct fanout *f = malloc(sizeof *f + k * sizeof f->contact[0] + bytes);
	if (f) {
		char *p = (char *)&f->contact[k];
		f->ver = ver;
		f->n = 0;
		for (size_t i = 0; i < n; i++) {
			if (!(items[i].sub & STORE_SUB_FROM))
				continue;
			size_t len = strlen(items[i].contact) + 1;
			f->contact[f->n++] = memcpy(p, items[i].contact, len);
			p += len;
		}
	}
	store_items_free(items, n);
	return f;
}

struct fanout *fanout_get(struct core *c, struct core_user *u)
{
	int64_t ver;
	if (store_roster_version(c->store, u->bare, &ver)) {
		log_warn("presence of %s: roster version unavailable", u->bare);
		return NULL;
	}
	if (u->fanout && u->fanout->ver == ver)
		return u->fanout;
	struct fanout *f = load(c, u->bare, ver);
	if (!f) {
		log_warn("presence of %s: roster unavailable, contacts not told", u->bare);
		return NULL;
	}
	/* Kept from the second broadcast on: the first (initial presence) is
	 * all that most sessions ever send. */
	if (u->fanout || u->broadcasts) {
		free(u->fanout);
		u->fanout = f;
	}
	if (u->broadcasts < UINT8_MAX)
		u->broadcasts++;
	return f;
}

void fanout_put(struct core_user *u, struct fanout *f)
{
	if (f != u->fanout)
		free(f);
}

void fanout_free(struct core_user *u)
{
	free(u->fanout);
	u->fanout = NULL;
}
