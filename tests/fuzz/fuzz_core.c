/* fuzz_core: the routing core driven through two in-memory cm links, as in
 * tests/unit/test_core.c.  Each input starts from the same state: both links
 * said HELLO, alice and bob have a session on each link, and the store holds
 * a small fixed set of rosters.  The input is then a sequence of link frames
 * (lib/wire.h); the header's flags byte, which the core ignores, steers the
 * harness:
 *
 *   bit 0  the frame goes to link B instead of link A
 *   bit 1  a STANZA frame gets its 'from' rewritten to the JID of the session
 *          its sid names, so stanzas pass the core's spoofing check and reach
 *          the router, rosters, presence and subscriptions
 *   bit 2  the frame is fed in two pieces, split at (flags >> 3) bytes
 *
 * Trailing bytes that are not a whole frame go to link A as they are.
 * Every frame the core queues must parse back.  The SQLite database is a
 * shared-cache in-memory one, opened once per process; a second connection
 * wipes its rosters and offline messages before each input, so runs are
 * deterministic and the database stays small. */
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/caps.h"
#include "core/core.h"
#include "core/link.h"
#include "core/park.h"
#include "core/store.h"
#include "lib/log.h"
#include "lib/stanza.h"
#include "lib/wire.h"

#define FUZZ_DOMAIN "example.com"
#define FUZZ_DB "file:starling_fuzz_core?mode=memory&cache=shared"
#define FUZZ_LINKS 2

enum fuzz_flag {
	FUZZ_F_LINK_B = 1,
	FUZZ_F_FIX_FROM = 2,
	FUZZ_F_SPLIT = 4,
};

struct fuzz_session {
	unsigned link;
	uint32_t sid;
	const char *jid;
};

static const struct fuzz_session fuzz_sessions[] = {
	{0, 1, "alice@" FUZZ_DOMAIN "/a"},
	{0, 2, "bob@" FUZZ_DOMAIN "/b"},
	{1, 1, "alice@" FUZZ_DOMAIN "/m"},
	{1, 2, "bob@" FUZZ_DOMAIN "/c"},
};

/* carol has an account but no session: messages to her are stored offline. */
static const char *const fuzz_users[] = {"alice@" FUZZ_DOMAIN, "bob@" FUZZ_DOMAIN,
					   "carol@" FUZZ_DOMAIN};

struct fuzz_roster {
	const char *user, *contact, *groups;
	uint8_t sub, ask, pending_in, hidden;
};

/* A mutual subscription (presence broadcasts reach contacts), a pending
 * request alice -> carol, and an item for an account that does not exist. */
static const struct fuzz_roster fuzz_rosters[] = {
	{"alice@" FUZZ_DOMAIN, "bob@" FUZZ_DOMAIN, "Friends", STORE_SUB_BOTH, 0, 0, 0},
	{"bob@" FUZZ_DOMAIN, "alice@" FUZZ_DOMAIN, NULL, STORE_SUB_BOTH, 0, 0, 0},
	{"alice@" FUZZ_DOMAIN, "carol@" FUZZ_DOMAIN, NULL, STORE_SUB_NONE, 1, 0, 0},
	{"carol@" FUZZ_DOMAIN, "alice@" FUZZ_DOMAIN, NULL, STORE_SUB_NONE, 0, 1, 1},
	{"bob@" FUZZ_DOMAIN, "dave@" FUZZ_DOMAIN, "A\nB", STORE_SUB_TO, 0, 0, 0},
};

static struct store *fuzz_store;
static sqlite3 *fuzz_db; /* keeps the in-memory database alive; wipes it per input */

static void fuzz_die(const char *why)
{
	fprintf(stderr, "fuzz_core: %s\n", why);
	abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* warn and info lines on every malformed input would drown the fuzzer;
	 * FUZZ_CORE_LOG=debug shows what a reproducer does. */
	const char *lvl = getenv("FUZZ_CORE_LOG");
	int level = lvl ? log_level_parse(lvl) : -1;
	log_init("fuzz_core", level < 0 ? LOG_LEVEL_ERROR : (enum log_level)level);
	/* store_open() passes no SQLITE_OPEN_URI flag; the global switch lets both
	 * connections name the same shared-cache memory database. */
	if (sqlite3_config(SQLITE_CONFIG_URI, 1) != SQLITE_OK)
		fuzz_die("sqlite3_config(URI)");
	if (sqlite3_open_v2(FUZZ_DB, &fuzz_db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI, NULL))
		fuzz_die("cannot open the in-memory database");
	if (store_open(FUZZ_DB, FUZZ_DOMAIN, &fuzz_store))
		fuzz_die("store_open");
	struct scram_creds cr[2] = {{.hash = SCRAM_SHA1}, {.hash = SCRAM_SHA256}};
	for (size_t i = 0; i < sizeof fuzz_users / sizeof fuzz_users[0]; i++)
		if (store_user_add(fuzz_store, fuzz_users[i], cr))
			fuzz_die("store_user_add");
	return 0;
}

/* Back to the fixed rosters.  Failing here also catches a store statement
 * left un-reset (it would hold a shared-cache table lock). */
static void fuzz_reset_store(void)
{
	if (sqlite3_exec(fuzz_db, "DELETE FROM roster; DELETE FROM offline; DELETE FROM xmldata;"
			 " DELETE FROM last_seen; DELETE FROM blocklist; DELETE FROM pep_node;"
			 " DELETE FROM pep_item;", NULL, NULL, NULL))
		fuzz_die(sqlite3_errmsg(fuzz_db));
	for (size_t i = 0; i < sizeof fuzz_rosters / sizeof fuzz_rosters[0]; i++) {
		const struct fuzz_roster *r = &fuzz_rosters[i];
		struct store_item it = {.contact = (char *)r->contact, .groups = (char *)r->groups,
					.sub = r->sub, .ask = r->ask, .pending_in = r->pending_in,
					.hidden = r->hidden};
		if (store_roster_put(fuzz_store, r->user, &it))
			fuzz_die("store_roster_put");
	}
}

static void fuzz_trace(const struct link *l, const struct wire_frame *f,
		       const struct wire_stanza *s)
{
	if (f->type != WIRE_STANZA) {
		log_debug("out %s sid %u: frame type %u", l->peer, f->sid, f->type);
		return;
	}
	log_debug("out %s sid %u: from '%.*s' to '%.*s' %.*s", l->peer, f->sid, (int)s->from.len,
		  s->from.p, (int)s->to.len, s->to.p, (int)s->xml.len, s->xml.p);
}

/* Every destination of a STANZA_MULTI decodes and names a session id. */
static int fuzz_check_multi(const struct wire_frame *f, struct wire_stanza *s)
{
	struct wire_reader r;
	uint32_t n, sid;
	struct wire_str to;
	if (wire_get_stanza_multi(f, s, &n, &r) || !s->kind || s->kind > STANZA_IQ)
		return -1;
	for (uint32_t i = 0; i < n; i++) {
		wire_get_dest(&r, &sid, &to);
		if (r.err || !sid)
			return -1;
	}
	return r.p == r.end ? 0 : -1;
}

/* The core writes whole frames only; stanzas must decode. */
static void fuzz_drain(struct link *l)
{
	size_t n = buf_avail(&l->out);
	const uint8_t *p = n ? (const uint8_t *)buf_head(&l->out) : NULL;
	while (n) {
		struct wire_frame f;
		struct wire_stanza s = {0};
		long k = wire_parse(p, n, &f);
		if (k <= 0)
			fuzz_die("the core queued a malformed or partial frame");
		if (f.type == WIRE_STANZA &&
		    (wire_get_stanza(&f, &s) || !s.kind || s.kind > STANZA_IQ))
			fuzz_die("the core queued an undecodable stanza");
		if (f.type == WIRE_STANZA_MULTI && fuzz_check_multi(&f, &s))
			fuzz_die("the core queued an undecodable multicast");
		fuzz_trace(l, &f, &s);
		p += k;
		n -= (size_t)k;
	}
	buf_reset(&l->out);
}

/* Like core/main.c at the end of a turn: failed links are closed, which ends
 * their sessions (and broadcasts unavailable to the other link). */
static void fuzz_end_turn(struct core *c, struct link *links[FUZZ_LINKS])
{
	park_tick(c);
	for (unsigned i = 0; i < FUZZ_LINKS; i++)
		if (links[i] && links[i]->dead) {
			link_close(c, links[i]);
			links[i] = NULL;
		}
	for (unsigned i = 0; i < FUZZ_LINKS; i++)
		if (links[i])
			fuzz_drain(links[i]);
}

static void fuzz_feed_buf(struct core *c, struct link *l, struct buf *b)
{
	link_feed(c, l, buf_head(b), buf_avail(b));
	buf_free(b);
}

static void fuzz_setup(struct core *c, struct link *links[FUZZ_LINKS])
{
	static const char *const names[FUZZ_LINKS] = {"fuzz-a", "fuzz-b"};
	for (unsigned i = 0; i < FUZZ_LINKS; i++) {
		struct buf b = {0};
		links[i] = link_new(c, -1, names[i]);
		if (!links[i] || wire_put_hello(&b, "fuzz"))
			fuzz_die("link_new");
		fuzz_feed_buf(c, links[i], &b);
	}
	for (size_t i = 0; i < sizeof fuzz_sessions / sizeof fuzz_sessions[0]; i++) {
		const struct fuzz_session *s = &fuzz_sessions[i];
		struct buf b = {0};
		if (wire_put_str_frame(&b, WIRE_SESSION_OPEN, s->sid, s->jid))
			fuzz_die("wire_put_str_frame");
		fuzz_feed_buf(c, links[s->link], &b);
		if (!session_by_sid(links[s->link], s->sid))
			fuzz_die("setup session did not open");
	}
	for (unsigned i = 0; i < FUZZ_LINKS; i++)
		if (links[i]->dead || !links[i]->hello_rx)
			fuzz_die("setup link failed");
	fuzz_end_turn(c, links);
}

/* Re-encodes a stanza frame with the session's own JID as 'from'; returns 0
 * when it fed the new frame, -1 when the frame should go in unchanged. */
static int fuzz_fix_from(struct core *c, struct link *l, const struct wire_frame *f)
{
	struct wire_stanza st;
	char jid[CORE_JID_MAX];
	struct session *s = session_by_sid(l, f->sid);
	if (f->type != WIRE_STANZA || !s || wire_get_stanza(f, &st) ||
	    session_full_jid(c, s, jid, sizeof jid) < 0)
		return -1;
	st.from = core_wstr(jid);
	struct buf b = {0};
	if (wire_put_stanza(&b, f->sid, &st)) {
		buf_free(&b);
		return -1;
	}
	fuzz_feed_buf(c, l, &b);
	return 0;
}

static void fuzz_frame(struct core *c, struct link *l, const struct wire_frame *f,
		       const uint8_t *raw, size_t len)
{
	if ((f->flags & FUZZ_F_FIX_FROM) && !fuzz_fix_from(c, l, f))
		return;
	if (f->flags & FUZZ_F_SPLIT) {
		size_t cut = ((size_t)f->flags >> 3) % len;
		link_feed(c, l, raw, cut);
		raw += cut;
		len -= cut;
	}
	link_feed(c, l, raw, len);
}

static void fuzz_run(struct core *c, struct link *links[FUZZ_LINKS], const uint8_t *data,
		     size_t size)
{
	while (size) {
		struct wire_frame f;
		long n = wire_parse(data, size, &f);
		if (n <= 0) {
			/* A partial or malformed frame: the link must buffer or fail. */
			if (links[0])
				link_feed(c, links[0], data, size);
			fuzz_end_turn(c, links);
			return;
		}
		struct link *l = links[(f.flags & FUZZ_F_LINK_B) ? 1 : 0];
		if (l)
			fuzz_frame(c, l, &f, data, (size_t)n);
		data += n;
		size -= (size_t)n;
		fuzz_end_turn(c, links);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A second hosted domain, so that routing between virtual hosts is
	 * reachable too (fuzz JIDs may name it). */
	static const char *const hosts[] = {"other.example"};
	struct core c = {.domain = FUZZ_DOMAIN, .hosts = hosts, .nhosts = 1, .store = fuzz_store,
			 .epfd = -1};
	struct link *links[FUZZ_LINKS] = {0};
	fuzz_reset_store();
	fuzz_setup(&c, links);
	fuzz_run(&c, links, data, size);
	for (unsigned i = 0; i < FUZZ_LINKS; i++)
		if (links[i]) {
			link_close(&c, links[i]);
			links[i] = NULL;
			for (unsigned j = 0; j < FUZZ_LINKS; j++)
				if (links[j])
					fuzz_drain(links[j]);
		}
	park_free(&c);
	if (c.users.n || c.links)
		fuzz_die("sessions or links left after every link closed");
	session_user_table_free(&c.users);
	caps_table_free(&c.caps);
	return 0;
}
