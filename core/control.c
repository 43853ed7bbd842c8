/* control: the verbs of starlingctl (control.h), answered as one ADMIN_REPLY
 * each, in text or JSON as the request asks. */
#include "control.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core.h"
#include "lib/config.h"
#include "lib/log.h"
#include "link.h"

#define CONTROL_ARG_MAX CORE_JID_MAX

int control_listen(const char *path, int group)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof sa.sun_path)
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(path); /* a stale socket from an earlier run */
	/* The socket is created with the umask's mode: never wider than ours,
	 * not even until the chmod. */
	mode_t old = umask(0177);
	int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa) ? -errno : 0;
	umask(old);
	if (!rc && chmod(path, group ? 0660 : 0600))
		rc = -errno;
	if (!rc && listen(fd, 16))
		rc = -errno;
	if (rc) {
		close(fd);
		return rc;
	}
	return fd;
}

struct req {
	int json;
	char verb[32], a1[CONTROL_ARG_MAX], a2[CONTROL_ARG_MAX];
};

static int copy_arg(struct wire_str s, char *out, size_t cap)
{
	if (s.len >= cap || memchr(s.p, 0, s.len))
		return -EINVAL;
	memcpy(out, s.p, s.len);
	out[s.len] = 0;
	return 0;
}

static void reply(struct link *l, uint32_t sid, int status, const struct buf *text)
{
	struct wire_writer w;
	wire_begin(&w, &l->out, WIRE_ADMIN_REPLY, sid);
	wire_put_u8(&w, (uint8_t)status);
	wire_put_str(&w, buf_head(text), buf_avail(text));
	if (wire_end(&w))
		link_fail(l, "cannot answer ADMIN_REQ");
}

static int add(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int add(struct buf *b, const char *fmt, ...)
{
	char s[8192]; /* room for a session line's longest JID */
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(s, sizeof s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	return buf_append(b, s, (size_t)n < sizeof s ? (size_t)n : sizeof s - 1);
}

/* A JSON string (RFC 8259 §7) of s. */
static int json_str(struct buf *b, const char *s)
{
	int rc = buf_append(b, "\"", 1);
	for (; !rc && *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			rc = add(b, "\\%c", ch);
		else if (ch < 0x20)
			rc = add(b, "\\u%04x", ch);
		else
			rc = buf_append(b, s, 1);
	}
	return rc || buf_append(b, "\"", 1) ? -ENOMEM : 0;
}

/* A refusal: msg as a line, or {"error": msg} for --json. */
static int refuse(const struct req *q, struct buf *out, int *failed, const char *msg)
{
	*failed = 1;
	if (!q->json)
		return add(out, "%s\n", msg);
	return add(out, "{\"error\":") || json_str(out, msg) || add(out, "}\n") ? -ENOMEM : 0;
}

static int is_cm(const struct link *l)
{
	return !l->admin && link_is_cm(l);
}

/* ---- status, stats ---- */

/* status --json: each "name value" line of the text as one member. */
static int status_json(struct buf *out, const struct buf *text)
{
	int rc = add(out, "{\"figures\":{");
	const char *p = buf_head(text), *end = p + buf_avail(text);
	for (int first = 1; !rc && p < end; first = 0) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *sp = nl ? memrchr(p, ' ', (size_t)(nl - p)) : NULL;
		if (!sp)
			break;
		char name[256];
		snprintf(name, sizeof name, "%.*s", (int)(sp - p), p);
		rc = add(out, first ? "" : ",") || json_str(out, name) ||
		     add(out, ":%.*s", (int)(nl - sp - 1), sp + 1);
		p = nl + 1;
	}
	return rc || add(out, "}}\n") ? -ENOMEM : 0;
}

static int cmd_status(struct core *c, const struct req *q, struct buf *out)
{
	struct buf text = {0};
	int rc = stats_render(c, &text);
	if (!rc)
		rc = q->json ? status_json(out, &text)
		             : buf_append(out, buf_head(&text), buf_avail(&text));
	buf_free(&text);
	return rc;
}

/* The sum over every cm worker's last report of the line "name N". */
static uint64_t cm_sum(const struct core *c, const char *name)
{
	uint64_t sum = 0;
	size_t nl = strlen(name);
	for (const struct link *l = c->links; l; l = l->next) {
		if (!is_cm(l) || !buf_avail(&l->cm_report))
			continue;
		const char *p = buf_head(&l->cm_report), *end = p + buf_avail(&l->cm_report);
		for (; p < end; p++) {
			if ((size_t)(end - p) > nl && !memcmp(p, name, nl) && p[nl] == ' ')
				sum += strtoull(p + nl + 1, NULL, 10); /* digits: stats_cm_report */
			p = memchr(p, '\n', (size_t)(end - p));
			if (!p)
				break;
		}
	}
	return sum;
}

static int cm_summary(const struct core *c, const struct req *q, struct buf *out)
{
	uint64_t v[6];
	static const char *const names[6] = {
	    "starling_cm_connections",      "starling_cm_accepted_total",
	    "starling_cm_auth_ok_total",    "starling_cm_auth_failed_total",
	    "starling_cm_stanzas_in_total", "starling_cm_stanzas_out_total",
	};
	for (int i = 0; i < 6; i++)
		v[i] = cm_sum(c, names[i]);
	const char *fmt = q->json ? ",\"cm\":{\"connections\":%" PRIu64 ",\"accepted\":%" PRIu64
	                            ",\"logins_ok\":%" PRIu64 ",\"logins_failed\":%" PRIu64
	                            ",\"stanzas_in\":%" PRIu64 ",\"stanzas_out\":%" PRIu64 "}}\n"
	                          : "connections:     %" PRIu64 " open, %" PRIu64 " accepted\n"
	                            "logins:          %" PRIu64 " ok, %" PRIu64 " failed\n"
	                            "client stanzas:  %" PRIu64 " in, %" PRIu64 " out\n";
	return add(out, fmt, v[0], v[1], v[2], v[3], v[4], v[5]);
}

/* stats: the core's figures, then the cm workers' added up (as of their
 * last report, at most a second old). */
static int cmd_stats(struct core *c, const struct req *q, struct buf *out)
{
	uint64_t links = 0, sessions = 0, avail = 0;
	for (struct link *l = c->links; l; l = l->next) {
		if (!is_cm(l))
			continue;
		links++;
		sessions += l->sids.n;
		for (uint32_t i = 0; i < l->sids.nb; i++)
			for (struct session *s = l->sids.b[i]; s; s = s->link_next)
				avail += (s->flags & SESSION_AVAILABLE) != 0;
	}
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	const struct core_stats *st = &c->stats;
	uint64_t up = (uint64_t)(now.tv_sec - c->started);
	const char *fmt = q->json ? "{\"uptime_seconds\":%" PRIu64 ",\"cm_links\":%" PRIu64
	                            ",\"users_online\":%u,\"sessions\":%" PRIu64
	                            ",\"sessions_available\":%" PRIu64
	                            ",\"stanzas\":{\"message\":%" PRIu64 ",\"presence\":%" PRIu64
	                            ",\"iq\":%" PRIu64 "},\"deliveries\":%" PRIu64
	                            ",\"offline_stored\":%" PRIu64 ",\"sessions_opened\":%" PRIu64
	                            ",\"sessions_closed\":%" PRIu64
	                          : "uptime:          %" PRIu64 " s\ncm worker links: %" PRIu64
	                            "\nusers online:    %u\nsessions:        %" PRIu64 " (%" PRIu64
	                            " available)\nstanzas routed:  %" PRIu64 " message, %" PRIu64
	                            " presence, %" PRIu64 " iq\ndeliveries:      %" PRIu64
	                            "\noffline stored:  %" PRIu64 "\nsessions opened: %" PRIu64
	                            ", closed %" PRIu64 "\n";
	return add(out, fmt, up, links, c->users.n, sessions, avail, st->stanzas[1], st->stanzas[2],
	           st->stanzas[3], st->deliveries, st->offline_stored, st->sessions_opened,
	           st->sessions_closed) ||
	       cm_summary(c, q, out);
}

/* ---- sessions, kick ---- */

/* s matches the JID asked for: "" all, a bare JID its sessions, a full
 * JID that one. */
static int matches(const struct session *s, const char *jid)
{
	if (!*jid)
		return 1;
	const char *slash = strchr(jid, '/');
	size_t bl = slash ? (size_t)(slash - jid) : strlen(jid);
	return core_str_eq(s->user->bare, jid, bl) && (!slash || !strcmp(s->resource, slash + 1));
}

static int session_line(struct buf *out, const struct session *s, int json, int first)
{
	char since[32];
	time_t t = s->since;
	struct tm tm;
	strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
	const char *addr = *session_addr(s) ? session_addr(s) : "-";
	int avail = (s->flags & SESSION_AVAILABLE) != 0;
	if (!json)
		return add(out, "%s/%s\t%s\t%s\t%s\t%d\t%s\n", s->user->bare, s->resource, addr,
		           since, s->link->name, s->priority, avail ? "available" : "unavailable");
	return add(out, "%s{\"jid\":", first ? "" : ",") || json_str(out, s->user->bare) ||
	       add(out, ",\"resource\":") || json_str(out, s->resource) ||
	       add(out, ",\"address\":") || json_str(out, session_addr(s)) ||
	       add(out, ",\"since\":%u,\"since_utc\":\"%s\",\"cm\":", s->since, since) ||
	       json_str(out, s->link->name) ||
	       add(out, ",\"sid\":%u,\"priority\":%d,\"available\":%s}", s->sid, s->priority,
	           avail ? "true" : "false");
}

static int link_sessions(struct link *l, const struct req *q, struct buf *out, int *first)
{
	int rc = 0;
	for (uint32_t i = 0; !rc && i < l->sids.nb; i++)
		for (struct session *s = l->sids.b[i]; !rc && s; s = s->link_next)
			if (matches(s, q->a1)) {
				rc = session_line(out, s, q->json, *first);
				*first = 0;
			}
	return rc;
}

static int cmd_sessions(struct core *c, const struct req *q, struct buf *out)
{
	int rc = q->json ? add(out, "{\"sessions\":[")
	                 : add(out, "JID\tADDRESS\tSINCE\tCM\tPRIORITY\tPRESENCE\n");
	int first = 1;
	for (struct link *l = c->links; !rc && l; l = l->next)
		if (is_cm(l))
			rc = link_sessions(l, q, out, &first);
	/* Those a stopped cm parked (park.c), under the cm name "parked". */
	if (!rc && c->parked)
		rc = link_sessions(c->parked, q, out, &first);
	return rc || (q->json && add(out, "]}\n")) ? -ENOMEM : 0;
}

/* Conditions that describe ending a session by an operator's decision;
 * the others of RFC 6120 §4.9.3 name client faults the client did not
 * commit (and see-other-host needs a host). */
static const char *const kickable[] = {
    "policy-violation",      "not-authorized",      "conflict",
    "system-shutdown",       "resource-constraint", "connection-timeout",
    "internal-server-error", "undefined-condition",
};

static int kick_condition(const char *name)
{
	for (size_t i = 0; i < sizeof kickable / sizeof kickable[0]; i++)
		if (!strcmp(kickable[i], name))
			return wire_condition(name, strlen(name));
	return -1;
}

/* The next session the kick ends, or NULL: looked up afresh each time, as
 * the user entry goes with its last session. */
static struct session *kick_next(struct core *c, const char *jid)
{
	const char *slash = strchr(jid, '/');
	size_t bl = slash ? (size_t)(slash - jid) : strlen(jid);
	struct core_user *u = session_user(c, jid, bl);
	if (!u || !slash)
		return u ? u->sessions : NULL;
	return session_by_resource(u, slash + 1, strlen(slash + 1));
}

static int cmd_kick(struct core *c, const struct req *q, struct buf *out, int *failed)
{
	const char *name = *q->a2 ? q->a2 : "policy-violation";
	int cond = kick_condition(name);
	if (cond < 0 || !*q->a1) {
		char msg[512];
		snprintf(msg, sizeof msg,
		         "%.64s: not a condition kick can use (RFC 6120 §4.9.3: "
		         "one of policy-violation, not-authorized, conflict, system-shutdown, "
		         "resource-constraint, connection-timeout, internal-server-error, "
		         "undefined-condition)",
		         name);
		return refuse(q, out, failed, msg);
	}
	unsigned n = 0;
	struct session *s;
	while ((s = kick_next(c, q->a1))) {
		struct wire_writer w;
		if (!s->link->dead) {
			wire_begin(&w, &s->link->out, WIRE_SESSION_CLOSE, s->sid);
			wire_put_u8(&w, WIRE_CLOSE_KICK);
			wire_put_u8(&w, (uint8_t)cond);
			if (wire_end(&w))
				link_fail(s->link, "out of memory");
		}
		link_session_end(c, s, "kicked");
		n++;
	}
	log_info("starlingctl: kicked %s (%u session(s)) with <%s/>", q->a1, n, name);
	*failed = !n;
	if (q->json)
		return add(out, "{\"jid\":") || json_str(out, q->a1) ||
		       add(out, ",\"condition\":\"%s\",\"kicked\":%u}\n", name, n);
	return n ? add(out, "%s: %u session(s) closed with <%s/>\n", q->a1, n, name)
	         : add(out, "%s: no such session\n", q->a1);
}

/* ---- log-level, reload ---- */

/* The level for the core and every cm process (each cm worker's link
 * carries it; they share one level per process).  Returns the cm links. */
static unsigned set_level(struct core *c, int lvl, int core, int cms)
{
	unsigned n = 0;
	if (core)
		log_current_level = (enum log_level)lvl;
	for (struct link *l = c->links; cms && l; l = l->next)
		if (is_cm(l) && !l->dead) {
			if (wire_put_u8_frame(&l->out, WIRE_LOG_LEVEL, 0, (uint8_t)lvl))
				link_fail(l, "out of memory");
			n++;
		}
	return n;
}

static int cmd_log_level(struct core *c, const struct req *q, struct buf *out, int *failed)
{
	int lvl = log_level_parse(q->a1);
	int core = !*q->a2 || !strcmp(q->a2, "core"), cms = !*q->a2 || !strcmp(q->a2, "cm");
	if (!core && !cms)
		return refuse(q, out, failed, "the process is core or cm (default: both)");
	if (lvl < 0) {
		char msg[128];
		snprintf(msg, sizeof msg, "%.32s: not a log level (error, warn, info or debug)",
		         q->a1);
		return refuse(q, out, failed, msg);
	}
	unsigned n = set_level(c, lvl, core, cms);
	log_info("starlingctl: log level %s%s%s", q->a1, *q->a2 ? " for " : "", q->a2);
	return add(out,
	           q->json ? "{\"level\":\"%s\",\"core\":%s,\"cm_links\":%u}\n"
	                   : "log level %s: %s%u cm worker link(s)\n",
	           q->a1,
	           q->json ? (core ? "true" : "false")
	           : core  ? "starling-core and "
	                   : "",
	           n);
}

/* Keys a running process takes from reload; every other one is read only
 * at start (docs/configuration.md). */
static const char *const live_keys[] = {
    "server.log_level",
    "core.max_sessions_per_account",
    "core.scram_iterations",
    /* each cm worker's (cm/uplink.c), from the next use */
    "c2s.read_rate",
    "c2s.read_burst",
    "c2s.auth_timeout",
    "c2s.idle_timeout",
    "c2s.ping_timeout",
    "c2s.resume_timeout",
};

struct reload_ctx {
	struct core *c;
	const struct config *next;
	struct buf *out;
	int json, first;
};

static int on_changed(void *ctx, const char *key)
{
	struct reload_ctx *r = ctx;
	int live = 0;
	for (size_t i = 0; i < sizeof live_keys / sizeof live_keys[0]; i++)
		live |= !strcmp(key, live_keys[i]);
	if (!strcmp(key, "server.log_level")) {
		set_level(r->c, log_level_parse(r->next->log_level), 1, 1);
		snprintf(r->c->cfg->log_level, sizeof r->c->cfg->log_level, "%s",
		         r->next->log_level);
	} else if (!strcmp(key, "core.max_sessions_per_account")) {
		r->c->max_sessions = r->c->cfg->max_sessions = r->next->max_sessions;
	} else if (!strcmp(key, "core.scram_iterations")) {
		r->c->cfg->scram_iterations = r->next->scram_iterations; /* starlingctl's */
	}
	log_info("reload: %s %s", key, live ? "applied" : "changed: restart needed");
	int rc = r->json ? add(r->out, "%s{\"key\":\"%s\",\"applied\":%s}", r->first ? "" : ",",
	                       key, live ? "true" : "false")
	                 : add(r->out, "%s: %s\n", key, live ? "applied" : "restart needed");
	r->first = 0;
	return rc;
}

/* Every cm worker re-reads the file for its live keys; worker 0 has its
 * process reload the certificates (the SIGHUP path, from the files it was
 * started with).  Returns the cm processes (worker 0's links). */
static unsigned reload_cms(struct core *c)
{
	unsigned n = 0;
	for (struct link *l = c->links; l; l = l->next)
		if (is_cm(l) && !l->dead) {
			if (wire_put_u8_frame(&l->out, WIRE_RELOAD, 0, 0))
				link_fail(l, "out of memory");
			size_t len = strlen(l->name);
			n += len > 2 && !strcmp(l->name + len - 2, "/0");
		}
	return n;
}

static int cmd_reload(struct core *c, const struct req *q, struct buf *out, int *failed)
{
	char err[512];
	struct config *next = malloc(sizeof *next); /* freed below */
	if (!next || !c->cfg)
		return free(next), -ENOMEM;
	config_defaults(next);
	if (config_load(c->cfg_path, next, err, sizeof err)) {
		free(next);
		log_warn("reload: %s; nothing changed", err);
		strncat(err, "; nothing changed", sizeof err - strlen(err) - 1);
		return refuse(q, out, failed, err);
	}
	struct reload_ctx r = {.c = c, .next = next, .out = out, .json = q->json, .first = 1};
	int rc = q->json ? add(out, "{\"changed\":[") : 0;
	size_t before = buf_avail(out);
	rc = rc ? rc : config_diff(c->cfg, next, on_changed, &r);
	if (!rc && !q->json && buf_avail(out) == before)
		rc = add(out, "no configuration changes\n");
	unsigned n = reload_cms(c);
	if (!rc)
		rc = q->json
		         ? add(out, "],\"certificates_reload_requested\":%u}\n", n)
		         : add(out, "certificates: reload requested from %u cm process(es)\n", n);
	free(next);
	return rc;
}

/* ---- dispatch ---- */

static void on_admin_req(struct core *c, struct link *l, const struct wire_frame *f)
{
	static struct req q; /* single-threaded; too big for the stack's taste */
	struct wire_reader r;
	wire_reader_init(&r, f);
	q.json = wire_get_u8(&r);
	struct wire_str v = wire_get_str(&r), a1 = wire_get_str(&r), a2 = wire_get_str(&r);
	if (r.err || copy_arg(v, q.verb, sizeof q.verb) || copy_arg(a1, q.a1, sizeof q.a1) ||
	    copy_arg(a2, q.a2, sizeof q.a2)) {
		link_fail(l, "malformed ADMIN_REQ");
		return;
	}
	struct buf out = {0};
	int failed = 0, rc;
	if (!strcmp(q.verb, "status"))
		rc = cmd_status(c, &q, &out);
	else if (!strcmp(q.verb, "stats"))
		rc = cmd_stats(c, &q, &out);
	else if (!strcmp(q.verb, "sessions"))
		rc = cmd_sessions(c, &q, &out);
	else if (!strcmp(q.verb, "kick"))
		rc = cmd_kick(c, &q, &out, &failed);
	else if (!strcmp(q.verb, "log-level"))
		rc = cmd_log_level(c, &q, &out, &failed);
	else if (!strcmp(q.verb, "reload"))
		rc = cmd_reload(c, &q, &out, &failed);
	else
		rc = refuse(&q, &out, &failed, "unknown verb");
	if (rc) {
		buf_free(&out);
		failed = 1;
		add(&out, "the core ran out of memory\n");
	}
	reply(l, f->sid, failed, &out);
	buf_free(&out);
}

void control_on_frame(struct core *c, struct link *l, const struct wire_frame *f)
{
	switch (f->type) {
	case WIRE_PING: link_on_ping(l, f); break;
	case WIRE_REVOKE:
		link_on_revoke(c, l, f);
		break;
	case WIRE_STATS_REQ:
		link_on_stats_req(c, l, f);
		break;
	case WIRE_ADMIN_REQ:
		on_admin_req(c, l, f);
		break;
	default:
		link_fail(l, "not an admin frame");
		break;
	}
}
