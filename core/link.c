/* link: frames from one starling-cm, in order; replies batched per turn. */
#include "link.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core.h"
#include "lib/log.h"
#include "lib/wire.h"
#include "control.h"
#include "park.h"
#include "presence.h"
#include "router.h"

#define LINK_READ_CHUNK 65536
/* A link's buffers are kept between batches up to this size: a cm worker's
 * link is busy whenever its clients are, and allocating 64 KiB for every
 * read cost a fifth of a routed message (docs/performance.md). */
#define LINK_KEEP (4 * LINK_READ_CHUNK)
#define LINK_READ_TURN (4 * LINK_READ_CHUNK) /* per turn, so one link cannot starve others */

struct link *link_new(struct core *c, int fd, const char *peer)
{
	struct link *l = calloc(1, sizeof *l); /* freed by link_close */
	if (!l)
		return NULL;
	l->fd = fd;
	snprintf(l->peer, sizeof l->peer, "%s", peer);
	if (wire_put_hello(&l->out, "starling-core")) {
		free(l);
		return NULL;
	}
	l->next = c->links;
	c->links = l;
	return l;
}

void link_fail(struct link *l, const char *why)
{
	if (!l->dead)
		log_warn("link %s: %s; closing", l->peer, why);
	l->dead = 1;
}

static void on_hello(struct link *l, const struct wire_frame *f)
{
	uint32_t version;
	struct wire_str name;
	if (l->hello_rx || wire_get_hello(f, &version, &name)) {
		link_fail(l, "bad HELLO");
		return;
	}
	if (version != WIRE_VERSION) {
		log_error("link %s: peer speaks link version %u, we speak %u", l->peer, version,
			  WIRE_VERSION);
		l->dead = 1;
		return;
	}
	l->hello_rx = 1;
	size_t n = 0;
	for (uint32_t i = 0; i < name.len && n + 1 < sizeof l->name; i++) {
		char ch = name.p[i];
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    ch == '/' || ch == '.' || ch == '_' || ch == '-')
			l->name[n++] = ch;
	}
	l->name[n] = '\0';
	log_info("link %s up (%s)", l->peer, l->name);
}

/* CRED_REQ: SCRAM verifiers and the account's DIGEST-MD5 hash when it has
 * one; the core never sees a password.  The name is the account's bare JID
 * (link version 3), the store's key. */
static void on_cred_req(struct core *c, struct link *l, const struct wire_frame *f)
{
	struct wire_reader r;
	wire_reader_init(&r, f);
	struct wire_str user = wire_get_str(&r);
	if (r.err) {
		link_fail(l, "malformed CRED_REQ");
		return;
	}
	struct scram_creds cr[2];
	struct wire_cred_entry e[WIRE_MAX_CREDS];
	uint8_t urp[STORE_DIGEST_MD5_LEN];
	char name[CORE_JID_MAX];
	int rc = -ENOENT, drc = -ENOENT;
	unsigned n = 0;
	c->stats.cred_lookups++;
	if (user.len && user.len < sizeof name && !memchr(user.p, 0, user.len)) {
		memcpy(name, user.p, user.len);
		name[user.len] = 0;
		rc = store_user_get(c->store, name, cr);
		drc = rc ? rc : store_user_get_digest(c->store, name, urp);
	}
	if (!rc && drc && drc != -ENOENT)
		rc = drc; /* a read error is an error, not "no DIGEST-MD5" */
	uint8_t status = rc == 0 ? WIRE_CRED_OK : rc == -ENOENT ? WIRE_CRED_NO_USER
								: WIRE_CRED_ERROR;
	for (int k = 0; k < 2 && !rc; k++) {
		size_t hl = scram_hash_len(cr[k].hash);
		e[n].hash = (uint8_t)cr[k].hash;
		e[n].salt = (struct wire_str){(const char *)cr[k].salt, (uint32_t)cr[k].salt_len};
		e[n].iter = cr[k].iter;
		e[n].stored_key = (struct wire_str){(const char *)cr[k].stored_key, (uint32_t)hl};
		e[n++].server_key = (struct wire_str){(const char *)cr[k].server_key, (uint32_t)hl};
	}
	if (!rc && !drc)
		e[n++] = (struct wire_cred_entry){.hash = WIRE_HASH_DIGEST_MD5,
						  .stored_key = {(const char *)urp, sizeof urp}};
	if (wire_put_cred(&l->out, f->sid, status, user, e, n))
		link_fail(l, "out of memory");
	memset(cr, 0, sizeof cr);
	memset(urp, 0, sizeof urp);
}

/* Issue 9: one account cannot hold more than max_sessions resources (a
 * client reconnecting in a loop with new resources would grow without end). */
static int at_limit(const struct core *c, const struct core_user *u)
{
	unsigned n = 0;
	for (const struct session *s = u ? u->sessions : NULL; s; s = s->user_next)
		n++;
	return c->max_sessions && n >= c->max_sessions;
}

static void on_session_open(struct core *c, struct link *l, const struct wire_frame *f)
{
	struct wire_reader r;
	wire_reader_init(&r, f);
	struct wire_str jid = wire_get_str(&r);
	/* The address came with link version 5; tests may leave it out. */
	struct wire_str addr = r.p < r.end ? wire_get_str(&r) : (struct wire_str){0};
	char where[SESSION_ADDR_MAX + 1] = "";
	if (r.err) {
		link_fail(l, "malformed SESSION_OPEN");
		return;
	}
	struct jid_view v;
	char bare[CORE_JID_MAX], res[1024];
	core_jid_split(jid, &v);
	struct wire_str b = core_jid_bare(&v);
	if (!v.has_local || !v.has_resource || !v.local.len || !v.resource.len ||
	    b.len >= sizeof bare || v.resource.len >= sizeof res ||
	    !core_is_local_domain(c, v.domain) || memchr(jid.p, 0, jid.len)) {
		log_warn("link %s: SESSION_OPEN sid %u with unusable JID", l->peer, f->sid);
		if (wire_put_u8_frame(&l->out, WIRE_SESSION_OPENED, f->sid, 1))
			link_fail(l, "out of memory");
		return;
	}
	/* Only for display: a cm's odd address is shown cut, not refused. */
	for (uint32_t i = 0; i < addr.len && i < SESSION_ADDR_MAX; i++)
		where[i] = addr.p[i] > ' ' && addr.p[i] < 127 ? addr.p[i] : '?';
	memcpy(bare, b.p, b.len);
	bare[b.len] = 0;
	memcpy(res, v.resource.p, v.resource.len);
	res[v.resource.len] = 0;
	struct core_user *u = session_user(c, bare, b.len);
	struct session *old = u ? session_by_resource(u, res, v.resource.len) : NULL;
	if (old) {
		/* RFC 6120 §7.7.2.2: the new session wins; the old one is closed
		 * with <conflict/> and gets no unavailable broadcast. */
		log_debug("session %.*s replaces an older one", (int)jid.len, jid.p);
		if (!old->link->dead && wire_put_u8_frame(&old->link->out, WIRE_SESSION_CLOSE,
							  old->sid, WIRE_CLOSE_CONFLICT))
			link_fail(old->link, "out of memory");
		session_free(c, old);
	}
	if (!old && at_limit(c, u)) {
		log_info("session %.*s refused: %u sessions already", (int)jid.len, jid.p,
			 c->max_sessions);
		if (wire_put_u8_frame(&l->out, WIRE_SESSION_OPENED, f->sid, WIRE_OPEN_LIMIT))
			link_fail(l, "out of memory");
		return;
	}
	struct session *s;
	int rc = session_open(c, l, f->sid, bare, res, where, &s);
	if (rc == -EEXIST) {
		link_fail(l, "SESSION_OPEN for a sid already in use");
		return;
	}
	if (wire_put_u8_frame(&l->out, WIRE_SESSION_OPENED, f->sid, rc ? 1 : 0))
		link_fail(l, "out of memory");
	else if (!rc)
		log_debug("session open: %.*s (link %s sid %u)", (int)jid.len, jid.p, l->peer,
			  f->sid);
}

void link_session_end(struct core *c, struct session *s, const char *how)
{
	char jid[CORE_JID_MAX];
	if (log_current_level >= LOG_LEVEL_DEBUG && session_full_jid(c, s, jid, sizeof jid) > 0)
		log_debug("session close: %s (%s)", jid, how);
	presence_session_end(c, s);
	session_free(c, s);
}

/* The account was deleted or its password changed (starlingctl): every
 * session it has ends with <not-authorized/> and unavailable presence, so no
 * one stays logged in on credentials that are no longer valid. */
void link_on_revoke(struct core *c, struct link *l, const struct wire_frame *f)
{
	struct wire_reader r;
	wire_reader_init(&r, f);
	struct wire_str local = wire_get_str(&r);
	if (r.err || !local.len || memchr(local.p, 0, local.len)) {
		link_fail(l, "malformed REVOKE");
		return;
	}
	unsigned n = 0;
	struct core_user *u;
	/* Re-looked up each time: the user entry goes with its last session. */
	while ((u = session_user(c, local.p, local.len)) && u->sessions) {
		struct session *s = u->sessions;
		if (!s->link->dead && wire_put_u8_frame(&s->link->out, WIRE_SESSION_CLOSE, s->sid,
							WIRE_CLOSE_REVOKED))
			link_fail(s->link, "out of memory");
		link_session_end(c, s, "credentials revoked");
		n++;
	}
	log_info("link %s: credentials of %.*s revoked, %u session(s) ended", l->peer,
		 (int)local.len, local.p, n);
}

static void on_session_close(struct core *c, struct link *l, const struct wire_frame *f)
{
	struct session *s = session_by_sid(l, f->sid);
	if (s)
		link_session_end(c, s, "closed by cm");
	else
		log_debug("link %s: SESSION_CLOSE for unknown sid %u", l->peer, f->sid);
}

/* XEP-0198 §4: a stanza the core sent whose client never acknowledged it
 * before its connection ended. */
static void on_return(struct core *c, struct link *l, const struct wire_frame *f)
{
	struct wire_stanza st;
	if (wire_get_stanza(f, &st)) {
		link_fail(l, "malformed STANZA_RETURN");
		return;
	}
	c->stats.returned++;
	router_returned(c, &st);
}

/* PING, from a cm or starlingctl: the same token back in a PONG. */
void link_on_ping(struct link *l, const struct wire_frame *f)
{
	struct wire_reader r;
	wire_reader_init(&r, f);
	uint32_t token = wire_get_u32(&r);
	if (r.err || wire_put_u32_frame(&l->out, WIRE_PONG, f->sid, token))
		link_fail(l, "bad PING");
}

/* A cm's sampled stanza (cm/trace.h): its two times and when we read it. */
static void on_trace(struct core *c, const struct wire_frame *f)
{
	uint64_t t[WIRE_TRACE_MAX];
	c->trace.armed = 0;
	if (wire_get_trace(f, t) != 2)
		return; /* a malformed trace costs only the measurement */
	c->trace.t[0] = t[0];
	c->trace.t[1] = t[1];
	c->trace.t[2] = c->read_ns;
	c->trace.sid = f->sid;
	c->trace.armed = 1;
}

static void on_stanza(struct core *c, struct link *l, const struct wire_frame *f)
{
	struct wire_stanza st;
	if (wire_get_stanza(f, &st)) {
		link_fail(l, "malformed STANZA");
		return;
	}
	struct session *s = session_by_sid(l, f->sid);
	if (!s) {
		/* A stanza racing with a close: harmless. */
		log_debug("link %s: stanza for unknown sid %u dropped", l->peer, f->sid);
		return;
	}
	char me[CORE_JID_MAX];
	int n = session_full_jid(c, s, me, sizeof me);
	if (n < 0 || !wire_str_eq(st.from, me)) {
		log_warn("link %s: sid %u sent a stanza not from its JID; dropped", l->peer,
			 f->sid);
		return;
	}
	router_stanza(c, s, &st);
}

/* STATS_REQ (starlingctl status): the figures, as one STATS frame. */
void link_on_stats_req(struct core *c, struct link *l, const struct wire_frame *f)
{
	struct buf text = {0};
	int rc = stats_render(c, &text);
	if (!rc) {
		struct wire_writer w;
		wire_begin(&w, &l->out, WIRE_STATS, f->sid);
		wire_put_str(&w, buf_head(&text), buf_avail(&text));
		rc = wire_end(&w);
	}
	if (rc)
		link_fail(l, "cannot answer STATS_REQ");
	buf_free(&text);
}

static void on_frame(struct core *c, struct link *l, const struct wire_frame *f)
{
	if (!l->hello_rx && f->type != WIRE_HELLO) {
		link_fail(l, "first frame is not HELLO");
		return;
	}
	if (l->admin && f->type != WIRE_HELLO) {
		control_on_frame(c, l, f); /* the control socket: admin frames only */
		return;
	}
	linkack_received(&l->ack, f->type, c->now_ms);
	switch (f->type) {
	case WIRE_HELLO: on_hello(l, f); break;
	case WIRE_ACK:
		if (linkack_on_ack(&l->ack, f))
			link_fail(l, "acknowledgement beyond what was sent");
		break;
	case WIRE_PING: link_on_ping(l, f); break;
	case WIRE_PONG: break;
	case WIRE_CRED_REQ: on_cred_req(c, l, f); break;
	case WIRE_SESSION_OPEN: on_session_open(c, l, f); break;
	case WIRE_SESSION_CLOSE: on_session_close(c, l, f); break;
	case WIRE_SESSION_PARK: park_on_park(c, l, f); break;
	case WIRE_SESSION_UNPARK: park_on_unpark(c, l, f); break;
	case WIRE_STANZA:
		if (c->trace.sid != f->sid)
			c->trace.armed = 0; /* a trace belongs to the frame right after it */
		on_stanza(c, l, f);
		c->trace.armed = 0;
		break;
	case WIRE_TRACE: on_trace(c, f); break;
	case WIRE_STANZA_RETURN: on_return(c, l, f); break;
	case WIRE_CM_STATS:
		if (stats_cm_report(l, f))
			log_warn("link %s: figures not kept (out of memory)", l->peer);
		break;
	case WIRE_FLOW: log_debug("link %s: FLOW %s ignored", l->peer,
				  f->plen && f->payload[0] ? "resume" : "pause");
		break;
	default: link_fail(l, "unknown frame type"); break;
	}
}

static void link_process(struct core *c, struct link *l)
{
	while (!l->dead && buf_avail(&l->in)) {
		struct wire_frame f;
		long n = wire_parse((const uint8_t *)buf_head(&l->in), buf_avail(&l->in), &f);
		if (n < 0) {
			link_fail(l, "malformed frame");
			return;
		}
		if (n == 0)
			return;
		on_frame(c, l, &f);
		l->frames_in++;
		buf_drop(&l->in, (size_t)n, LINK_KEEP);
	}
}

void link_feed(struct core *c, struct link *l, const void *data, size_t len)
{
	if (buf_append(&l->in, data, len)) {
		link_fail(l, "out of memory");
		return;
	}
	link_process(c, l);
}

void link_on_readable(struct core *c, struct link *l)
{
	size_t total = 0;
	while (!l->dead && total < LINK_READ_TURN) {
		char *p = buf_reserve(&l->in, LINK_READ_CHUNK);
		if (!p) {
			link_fail(l, "out of memory");
			return;
		}
		ssize_t n = read(l->fd, p, LINK_READ_CHUNK);
		if (n > 0) {
			buf_commit(&l->in, (size_t)n);
			total += (size_t)n;
			l->bytes_in += (uint64_t)n;
			/* One clock pair per read, not per frame: the batch's latency. */
			uint64_t t0 = lathist_now_ns();
			c->read_ns = t0;
			link_process(c, l);
			lathist_observe(&c->stats.route_latency, lathist_now_ns() - t0);
			/* A short read drained the socket: the read that would say
			 * EAGAIN is a syscall per wake-up for nothing, and the
			 * level-triggered epoll reports anything newer. */
			if ((size_t)n < LINK_READ_CHUNK)
				break;
			continue;
		}
		if (n == 0) {
			log_info("link %s down (peer closed)", l->peer);
			l->dead = 1;
		} else if (errno != EAGAIN && errno != EINTR) {
			log_warn("link %s: read: %s", l->peer, strerror(errno));
			l->dead = 1;
		}
		break;
	}
}

static void link_arm(struct core *c, struct link *l, int want_out)
{
	if (c->epfd < 0 || l->fd < 0 || l->out_armed == want_out)
		return;
	struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.ptr = l};
	if (epoll_ctl(c->epfd, EPOLL_CTL_MOD, l->fd, &ev))
		link_fail(l, "epoll_ctl failed");
	else
		l->out_armed = (uint8_t)want_out;
}

void link_flush(struct core *c, struct link *l)
{
	while (!l->dead && l->fd >= 0 && buf_avail(&l->out)) {
		ssize_t n = send(l->fd, buf_head(&l->out), buf_avail(&l->out), MSG_NOSIGNAL);
		if (n > 0) {
			buf_drop(&l->out, (size_t)n, LINK_KEEP);
			l->bytes_out += (uint64_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		log_warn("link %s: write: %s", l->peer, n < 0 ? strerror(errno) : "0 bytes");
		l->dead = 1;
		return;
	}
	if (!l->dead)
		link_arm(c, l, buf_avail(&l->out) != 0);
}

void link_keep(struct link *l, size_t before)
{
	if (l->parking)
		return; /* no peer will ever count them */
	if (linkack_keep(&l->ack, buf_head(&l->out) + before, buf_avail(&l->out) - before))
		link_fail(l, "out of memory keeping stanzas");
}

/* The stanzas the cm never counted may not have reached their clients:
 * routed again as returned, now that the link's sessions are gone (a
 * message to another resource or offline storage, a request answered with
 * an error).  Presence broadcasts are not worth it. */
static void link_reroute(struct core *c, struct link *l)
{
	const uint8_t *p = (const uint8_t *)buf_head(&l->ack.kept);
	size_t left = buf_avail(&l->ack.kept);
	struct wire_frame f;
	struct wire_stanza st;
	unsigned n = 0;
	long k;
	while (left && (k = wire_parse(p, left, &f)) > 0) {
		if (f.type == WIRE_STANZA && !wire_get_stanza(&f, &st)) {
			router_returned(c, &st);
			n++;
		} else if (f.type == WIRE_SESSION_UNPARKED) {
			park_unparked_lost(c, &f);
		}
		p += k;
		left -= (size_t)k;
	}
	if (n)
		log_info("link %s: %u stanza(s) it never acknowledged routed again", l->peer, n);
	linkack_free(&l->ack);
}

void link_close(struct core *c, struct link *l)
{
	l->dead = 1; /* nothing more is queued to it while sessions end */
	/* The logouts they record (XEP-0012) go in one commit, not one each. */
	int batch = !store_begin(c->store);
	for (uint32_t i = 0; i < l->sids.nb; i++)
		while (l->sids.b[i])
			link_session_end(c, l->sids.b[i], "link closed");
	link_reroute(c, l);
	if (batch && store_commit(c->store))
		log_warn("link %s: last activity of its sessions not recorded", l->peer);
	for (struct link **pp = &c->links; *pp; pp = &(*pp)->next)
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	if (l->fd >= 0) {
		if (c->epfd >= 0)
			epoll_ctl(c->epfd, EPOLL_CTL_DEL, l->fd, NULL);
		close(l->fd);
	}
	log_info("link %s closed", l->peer);
	session_sid_table_free(&l->sids);
	buf_free(&l->cm_report);
	buf_free(&l->in);
	buf_free(&l->out);
	linkack_free(&l->ack);
	buf_free(&l->mc);
	free(l);
}
