/* fanout: the contacts a user's presence broadcast goes to (RFC 6121 §4.2.2,
 * §4.4.2: a subscription "from" or "both").  Loading them means reading the
 * whole roster from SQLite, most of a broadcast's cost; a user who broadcasts
 * again keeps the list, checked against the roster's version (moved by the
 * store's triggers on every write, starlingctl's included), which is one
 * indexed read.  A user who only ever sends initial presence keeps nothing. */
#ifndef STARLING_CORE_FANOUT_H
#define STARLING_CORE_FANOUT_H
#include <stddef.h>
#include <stdint.h>

#include "core.h"

struct fanout {
	int64_t ver; /* roster version the list was read at */
	size_t n;
	char *contact[]; /* bare JIDs, malloc'd with the struct */
};

/* The list for u, or NULL on a store failure (logged).  Release it with
 * fanout_put(), which frees it unless u keeps it. */
struct fanout *fanout_get(struct core *c, struct core_user *u);
void fanout_put(struct core_user *u, struct fanout *f);
/* Frees what u keeps (session.c, with the user). */
void fanout_free(struct core_user *u);

#endif
