/* throttle: an open-addressed table of source addresses with a failure
 * count and the start of their window, allocated at the first failure. */
#include "throttle.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "connlimit.h"
#include "connlog.h"
#include "lib/log.h"
#include "worker.h"

struct throttle_entry {
	uint8_t addr[16]; /* IPv4 mapped into IPv6 */
	uint64_t since_ms; /* start of the window; 0 = free slot */
	uint32_t failures;
};

struct throttle {
	struct throttle_entry e[THROTTLE_SLOTS];
};

static uint32_t hash16(const uint8_t k[16])
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (int i = 0; i < 16; i++)
		h = (h ^ k[i]) * 16777619u;
	return h;
}

/* The entry for key, reusing an expired one or, when the 8 probed slots
 * are all live, the oldest of them.  NULL when nothing is tracked and
 * create is 0. */
static struct throttle_entry *lookup(struct worker *w, const uint8_t key[16], int create)
{
	uint64_t window = (uint64_t)w->cfg->auth_failure_window * 1000;
	struct throttle_entry *victim = NULL;
	int victim_live = 1;
	uint32_t h = hash16(key);
	for (uint32_t i = 0; w->throttle && i < 8; i++) {
		struct throttle_entry *e = &w->throttle->e[(h + i) % THROTTLE_SLOTS];
		int live = e->since_ms && w->now_ms - e->since_ms < window;
		if (live && !memcmp(e->addr, key, 16))
			return e;
		if (!live && victim_live) {
			victim = e; /* a free or expired slot beats any live one */
			victim_live = 0;
		} else if (live && victim_live && (!victim || e->since_ms < victim->since_ms))
			victim = e;
	}
	if (!create)
		return NULL;
	if (!w->throttle && !(w->throttle = calloc(1, sizeof *w->throttle)))
		return NULL;
	if (!victim)
		victim = &w->throttle->e[h % THROTTLE_SLOTS];
	memcpy(victim->addr, key, 16);
	victim->since_ms = w->now_ms ? w->now_ms : 1;
	victim->failures = 0;
	return victim;
}

int throttle_blocked(struct worker *w, const struct conn *c)
{
	uint8_t key[16];
	if (!w->cfg->auth_failures_per_address || !w->throttle || connlimit_peer_key(c->fd, key))
		return 0;
	struct throttle_entry *e = lookup(w, key, 0);
	return e && e->failures >= w->cfg->auth_failures_per_address;
}

void throttle_failed(struct worker *w, const struct conn *c)
{
	uint8_t key[16];
	if (!w->cfg->auth_failures_per_address || connlimit_peer_key(c->fd, key))
		return;
	struct throttle_entry *e = lookup(w, key, 1);
	if (e && ++e->failures == w->cfg->auth_failures_per_address)
		conn_log(LOG_LEVEL_WARN, c, "%u failed logins from its address in %u s; refusing its "
			 "logins for the rest of that time", e->failures,
			 w->cfg->auth_failure_window);
}

void throttle_free(struct worker *w)
{
	free(w->throttle);
	w->throttle = NULL;
}
