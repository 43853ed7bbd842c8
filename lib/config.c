#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "jid.h"
#include "log.h"

enum config_type {
	CONFIG_T_STR,
	CONFIG_T_U16,
	CONFIG_T_U32,
	CONFIG_T_UINT,
	CONFIG_T_BOOL,
	CONFIG_T_HOSTS, /* comma-separated domains appended to hosts[] */
};

struct config_key {
	const char *section, *name;
	enum config_type type;
	size_t off, size;	/* field in struct config; size for strings */
	unsigned long min, max; /* numbers only */
	/* Strings only, may be NULL: extra checks on the value, which may be
	 * rewritten in place (lowercased).  Returns 0 if acceptable. */
	int (*check)(char *v);
	const char *expect; /* shown after "bad value" */
};

static int config_check_domain(char *v);
static int config_check_log_level(char *v);
static int config_check_log_format(char *v);
static int config_check_address(char *v);
static int config_check_link(char *v);
static int config_check_path(char *v);
static int config_check_metrics(char *v);

/* clang-format off */
#define STR(sec, key, field, fn, what)                                                             \
	{sec, key, CONFIG_T_STR, offsetof(struct config, field),                                   \
	 sizeof(((struct config *)0)->field), 0, 0, fn, what}
#define NUM(sec, key, type, field, lo, hi)                                                         \
	{sec, key, type, offsetof(struct config, field), 0, lo, hi, NULL,                          \
	 "an integer " #lo ".." #hi}
#define BOOL(sec, key, field)                                                                      \
	{sec, key, CONFIG_T_BOOL, offsetof(struct config, field), 0, 0, 1, NULL,                   \
	 "true/false, yes/no, on/off or 1/0"}

static const struct config_key config_keys[] = {
	STR("server", "domain", domain, config_check_domain, "a DNS domain name"),
	{"server", "hosts", CONFIG_T_HOSTS, 0, 0, 0, 0, NULL, "DNS domain names separated by commas"},
	STR("server", "log_level", log_level, config_check_log_level, "error, warn, info or debug"),
	STR("server", "log_format", log_format, config_check_log_format, "text, logfmt or json"),
	STR("server", "log_file", log_file, config_check_path, "a file name"),
	STR("c2s", "address", c2s_address, config_check_address, "an IPv4 or IPv6 address"),
	NUM("c2s", "port", CONFIG_T_U16, c2s_port, 1, 65535),
	NUM("c2s", "tls_port", CONFIG_T_U16, c2s_tls_port, 0, 65535),
	NUM("c2s", "workers", CONFIG_T_UINT, workers, 0, 1024),
	/* RFC 6120 §13.12: a server must accept stanzas of at least 10000 bytes. */
	NUM("c2s", "max_stanza_size", CONFIG_T_U32, max_stanza_size, 10000, 16777216),
	BOOL("c2s", "require_tls", require_tls),
	BOOL("c2s", "channel_binding", channel_binding),
	BOOL("c2s", "digest_md5", digest_md5),
	NUM("c2s", "auth_timeout", CONFIG_T_UINT, auth_timeout, 1, 3600),
	NUM("c2s", "idle_timeout", CONFIG_T_UINT, idle_timeout, 0, 86400),
	NUM("c2s", "ping_timeout", CONFIG_T_UINT, ping_timeout, 1, 3600),
	NUM("c2s", "resume_timeout", CONFIG_T_UINT, resume_timeout, 0, 86400),
	NUM("c2s", "trace_sample", CONFIG_T_UINT, trace_sample, 0, 1000000),
	NUM("c2s", "batch_wait_us", CONFIG_T_UINT, batch_wait_us, 0, 10000),
	NUM("c2s", "batch_wait_busy", CONFIG_T_UINT, batch_wait_busy, 0, 4096),
	NUM("c2s", "auth_failures_per_address", CONFIG_T_UINT, auth_failures_per_address, 0, 1000000),
	NUM("c2s", "auth_failure_window", CONFIG_T_UINT, auth_failure_window, 1, 86400),
	NUM("c2s", "max_connections", CONFIG_T_UINT, max_connections, 1, 16777216),
	NUM("c2s", "max_connections_per_address", CONFIG_T_UINT, max_connections_per_address, 0, 16777216),
	NUM("c2s", "auth_failures_per_account", CONFIG_T_UINT, auth_failures_per_account, 0, 1000000),
	NUM("c2s", "read_rate", CONFIG_T_UINT, read_rate, 0, 1073741824),
	NUM("c2s", "read_burst", CONFIG_T_UINT, read_burst, 1024, 1073741824),
	STR("c2s", "metrics", c2s_metrics, config_check_metrics, "HOST:PORT, or off"),
	STR("tls", "certificate", tls_cert, config_check_path, "a file name"),
	STR("tls", "key", tls_key, config_check_path, "a file name"),
	/* XEP-0178: SASL EXTERNAL for clients whose certificate these CAs signed. */
	STR("tls", "client_ca", tls_client_ca, config_check_path, "a file name"),
	BOOL("tls", "session_tickets", tls_session_tickets),
	BOOL("tls", "lean_records", tls_lean_records),
	STR("link", "address", link_address, config_check_link, "unix:PATH or HOST:PORT"),
	STR("core", "database", database, config_check_path, "a file name"),
	/* RFC 7677 §4: the iteration count should be at least 4096. */
	NUM("core", "scram_iterations", CONFIG_T_U32, scram_iterations, 4096, 10000000),
	NUM("core", "max_sessions_per_account", CONFIG_T_UINT, max_sessions, 1, 100000),
	NUM("core", "batch_wait_us", CONFIG_T_UINT, core_batch_wait_us, 0, 10000),
	STR("core", "control", control, config_check_path, "a file name"),
	BOOL("core", "control_group", control_group),
	STR("core", "metrics", core_metrics, config_check_metrics, "HOST:PORT, or off"),
};
/* clang-format on */

void config_defaults(struct config *c)
{
	memset(c, 0, sizeof *c);
	snprintf(c->domain, sizeof c->domain, "localhost");
	snprintf(c->log_level, sizeof c->log_level, "info");
	snprintf(c->log_format, sizeof c->log_format, "text");
	snprintf(c->c2s_address, sizeof c->c2s_address, "127.0.0.1");
	c->c2s_port = 5222;
	c->c2s_tls_port = 5223;
	c->workers = 0;
	c->max_stanza_size = 262144;
	c->require_tls = 1;
	c->channel_binding = 0;
	c->digest_md5 = 0;
	c->auth_timeout = 60;
	c->idle_timeout = 300;
	c->ping_timeout = 60;
	c->resume_timeout = 300;
	c->trace_sample = 64;
	c->batch_wait_us = 200;	/* docs/performance.md, "Only when busy" */
	c->batch_wait_busy = 16;
	c->auth_failures_per_address = 10;
	c->auth_failure_window = 60;
	c->max_connections = 65536;
	c->max_connections_per_address = 0;
	c->auth_failures_per_account = 10;
	c->read_rate = 262144;
	c->read_burst = 1048576;
	snprintf(c->tls_cert, sizeof c->tls_cert, "var/cert.pem");
	snprintf(c->tls_key, sizeof c->tls_key, "var/key.pem");
	c->tls_session_tickets = 1;
	c->tls_lean_records = 1;
	snprintf(c->link_address, sizeof c->link_address, "unix:var/core.sock");
	snprintf(c->database, sizeof c->database, "var/starling.db");
	c->scram_iterations = 4096;
	c->max_sessions = 100;
	c->control[0] = '\0'; /* next to the database unless set: config_load */
	snprintf(c->c2s_metrics, sizeof c->c2s_metrics, "127.0.0.1:9522");
	snprintf(c->core_metrics, sizeof c->core_metrics, "127.0.0.1:9523");
}


static size_t config_key_size(const struct config_key *k)
{
	switch (k->type) {
	case CONFIG_T_STR: return k->size;
	case CONFIG_T_U16: return sizeof(uint16_t);
	case CONFIG_T_U32: return sizeof(uint32_t);
	case CONFIG_T_UINT: return sizeof(unsigned);
	case CONFIG_T_BOOL: return sizeof(int);
	default: return 0;
	}
}

static int config_hosts_differ(const struct config *a, const struct config *b)
{
	int d = a->nhosts != b->nhosts;
	for (unsigned i = 0; !d && i < a->nhosts; i++)
		d = strcmp(a->hosts[i], b->hosts[i]) != 0;
	return d;
}

/* Where a domain was named (line) is no change. */
static int config_tls_hosts_differ(const struct config *a, const struct config *b)
{
	int d = a->ntls_hosts != b->ntls_hosts;
	for (unsigned i = 0; !d && i < a->ntls_hosts; i++) {
		const struct config_tls_host *x = &a->tls_hosts[i], *y = &b->tls_hosts[i];
		d = strcmp(x->domain, y->domain) || strcmp(x->cert, y->cert) ||
		    strcmp(x->key, y->key);
	}
	return d;
}

int config_diff(const struct config *a, const struct config *b,
		int (*fn)(void *ctx, const char *key), void *ctx)
{
	char name[64];
	int rc = 0;
	for (size_t i = 0; !rc && i < sizeof config_keys / sizeof config_keys[0]; i++) {
		const struct config_key *k = &config_keys[i];
		size_t n = config_key_size(k);
		const char *pa = (const char *)a + k->off, *pb = (const char *)b + k->off;
		int differ = k->type == CONFIG_T_HOSTS ? config_hosts_differ(a, b)
			     : k->type == CONFIG_T_STR ? strcmp(pa, pb) != 0
						       : memcmp(pa, pb, n) != 0;
		snprintf(name, sizeof name, "%s.%s", k->section, k->name);
		if (differ)
			rc = fn(ctx, name);
	}
	if (!rc && config_tls_hosts_differ(a, b))
		rc = fn(ctx, "tls.certificate.<domain>");
	return rc;
}

/* ---- value checks ---- */

/* Lowercase ASCII; LDH labels of 1..63 bytes; UTF-8 bytes are passed through
 * for the JID code to prepare (RFC 7622 §3.2).  One trailing dot is dropped
 * (RFC 7622 §3.2: it must be removed before comparison). */
static int config_check_domain(char *v)
{
	size_t n = strlen(v), label = 0;
	if (n && v[n - 1] == '.')
		v[--n] = '\0';
	if (!n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)v[i];
		if (ch == '.') {
			if (!label)
				return -1;
			label = 0;
			continue;
		}
		int alpha = (ch | 0x20) >= 'a' && (ch | 0x20) <= 'z';
		if (!(alpha || (ch >= '0' && ch <= '9') || ch == '-' || ch >= 0x80) || ++label > 63)
			return -1;
		if (alpha)
			v[i] = (char)(ch | 0x20);
	}
	if (!label)
		return -1;
	/* RFC 7622 §3.2: the JID code's preparation, so that the name compares
	 * equal to a prepared stream 'to' or JID domainpart. */
	char prepped[CONFIG_STR];
	if (jid_prep_domain(v, prepped, sizeof prepped))
		return -1;
	memcpy(v, prepped, strlen(prepped) + 1);
	return 0;
}

static int config_check_log_level(char *v) { return log_level_parse(v) < 0 ? -1 : 0; }

static int config_check_log_format(char *v) { return log_format_parse(v) < 0 ? -1 : 0; }

static int config_check_address(char *v)
{
	unsigned char addr[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, v, addr) == 1 || inet_pton(AF_INET6, v, addr) == 1 ? 0 : -1;
}

static int config_check_path(char *v) { return *v ? 0 : -1; }

static int config_parse_ulong(const char *v, unsigned long *out)
{
	/* strtoul alone would accept " 12", "-1" (as ULONG_MAX) and "12abc". */
	if (*v < '0' || *v > '9')
		return -1;
	char *end;
	errno = 0;
	unsigned long n = strtoul(v, &end, 10);
	if (errno || *end)
		return -1;
	*out = n;
	return 0;
}

/* "unix:PATH" (PATH fits sun_path) or "HOST:PORT" / "[V6]:PORT". */
static int config_check_link(char *v)
{
	if (!strncmp(v, "unix:", 5)) {
		size_t n = strlen(v + 5);
		return n && n < sizeof(((struct sockaddr_un *)0)->sun_path) ? 0 : -1;
	}
	char *colon = strrchr(v, ':');
	unsigned long port;
	if (!colon || colon == v || config_parse_ulong(colon + 1, &port) || !port || port > 65535)
		return -1;
	if (v[0] == '[')
		return colon[-1] == ']' && colon - v > 2 ? 0 : -1;
	return memchr(v, ':', (size_t)(colon - v)) ? -1 : 0; /* bare IPv6 needs brackets */
}

/* The Prometheus endpoint: HOST:PORT, or "" / "off" (stored as "") for none. */
static int config_check_metrics(char *v)
{
	if (!*v || !strcmp(v, "off")) {
		*v = 0;
		return 0;
	}
	return strncmp(v, "unix:", 5) ? config_check_link(v) : -1;
}

/* ---- the ini handler ---- */

struct config_parse {
	struct config *c;
	const char *path;
	FILE *f;
	int line;	/* of the line last handed to inih */
	int read_errno; /* set when reading failed */
	int err_line;	/* 0 until the first error */
	char *err;
	size_t errlen;
};

static void config_fail(struct config_parse *p, const char *msg)
{
	if (p->err_line)
		return; /* keep the first error */
	p->err_line = p->line;
	snprintf(p->err, p->errlen, "%s:%d: %s", p->path, p->line, msg);
}

/* "a.example, b.example": each name checked and appended to hosts[].
 * Returns 0, -1 for a bad name, -E2BIG past CONFIG_MAX_HOSTS, -EEXIST for a
 * name already listed (the primary domain is compared in the cross check:
 * it may come later in the file). */
static int config_add_hosts(struct config *c, const char *v)
{
	char list[CONFIG_STR];
	if (strlen(v) >= sizeof list)
		return -1;
	memcpy(list, v, strlen(v) + 1);
	/* strsep, not strtok: an empty item ("a,,b", "a,") is an error. */
	char *rest = list, *t;
	while ((t = strsep(&rest, ","))) {
		t += strspn(t, " \t");
		size_t n = strlen(t);
		while (n && (t[n - 1] == ' ' || t[n - 1] == '\t'))
			t[--n] = '\0';
		if (config_check_domain(t))
			return -1;
		for (unsigned i = 0; i < c->nhosts; i++)
			if (!strcmp(c->hosts[i], t))
				return -EEXIST;
		if (c->nhosts >= CONFIG_MAX_HOSTS)
			return -E2BIG;
		memcpy(c->hosts[c->nhosts++], t, strlen(t) + 1);
	}
	return 0;
}

/* [tls] certificate.<domain> and key.<domain>: name is the whole key.
 * Returns 1 when name is not such a key, 0 when taken, else -1 with the
 * message in msg. */
static int config_tls_host(struct config_parse *p, const char *name, const char *v, char *msg,
			   size_t msglen)
{
	const char *dot = strchr(name, '.');
	int is_cert = dot && dot - name == 11 && !strncmp(name, "certificate", 11);
	if (!dot || (!is_cert && (dot - name != 3 || strncmp(name, "key", 3))))
		return 1;
	char dom[CONFIG_STR];
	if (strlen(dot + 1) >= sizeof dom || config_check_domain(strcpy(dom, dot + 1))) {
		snprintf(msg, msglen, "bad domain in tls.%.64s (expected certificate.DOMAIN or "
				      "key.DOMAIN)", name);
		return -1;
	}
	if (!*v || strlen(v) >= CONFIG_STR) {
		snprintf(msg, msglen, "bad value for tls.%.64s: '%.64s' (expected a file name)",
			 name, v);
		return -1;
	}
	struct config *c = p->c;
	struct config_tls_host *h = NULL;
	for (unsigned i = 0; i < c->ntls_hosts && !h; i++)
		if (!strcmp(c->tls_hosts[i].domain, dom))
			h = &c->tls_hosts[i];
	if (!h) {
		if (c->ntls_hosts >= CONFIG_MAX_HOSTS + 1) {
			snprintf(msg, msglen, "tls.%.64s: more certificates than hosted domains", name);
			return -1;
		}
		h = &c->tls_hosts[c->ntls_hosts++];
		memset(h, 0, sizeof *h);
		strcpy(h->domain, dom);
		h->line = p->line;
	}
	strcpy(is_cert ? h->cert : h->key, v);
	return 0;
}

static int config_set(struct config_parse *p, const struct config_key *k, const char *v)
{
	char *field = (char *)p->c + k->off;
	if (k->type == CONFIG_T_HOSTS)
		return config_add_hosts(p->c, v);
	if (k->type == CONFIG_T_STR) {
		char tmp[CONFIG_STR];
		size_t n = strlen(v);
		if (n >= k->size || (k->check && k->check(memcpy(tmp, v, n + 1))))
			return -1;
		memcpy(field, tmp, strlen(tmp) + 1);
		return 0;
	}
	if (k->type == CONFIG_T_BOOL) {
		static const char *yes[] = {"true", "yes", "on", "1"},
				  *no[] = {"false", "no", "off", "0"};
		for (int i = 0; i < 4; i++)
			if (!strcasecmp(v, yes[i]) || !strcasecmp(v, no[i])) {
				*(int *)(void *)field = !strcasecmp(v, yes[i]);
				return 0;
			}
		return -1;
	}
	unsigned long n;
	if (config_parse_ulong(v, &n) || n < k->min || n > k->max)
		return -1;
	if (k->type == CONFIG_T_U16)
		*(uint16_t *)(void *)field = (uint16_t)n;
	else if (k->type == CONFIG_T_U32)
		*(uint32_t *)(void *)field = (uint32_t)n;
	else
		*(unsigned *)(void *)field = (unsigned)n;
	return 0;
}

static int config_handler(void *user, const char *section, const char *name, const char *value)
{
	struct config_parse *p = user;
	char msg[400];
	int known_section = 0;
	if (!strcmp(section, "tls")) {
		int rc = config_tls_host(p, name, value, msg, sizeof msg);
		if (rc < 1) {
			if (rc)
				config_fail(p, msg);
			return 1;
		}
	}
	for (size_t i = 0; i < sizeof config_keys / sizeof config_keys[0]; i++) {
		const struct config_key *k = &config_keys[i];
		if (strcmp(section, k->section))
			continue;
		known_section = 1;
		if (strcmp(name, k->name))
			continue;
		int rc = config_set(p, k, value);
		if (rc == -EEXIST || rc == -E2BIG) {
			snprintf(msg, sizeof msg, rc == -EEXIST ? "%s.%s: a domain is listed twice"
								: "%s.%s: more than %d domains",
				 k->section, k->name, CONFIG_MAX_HOSTS);
			config_fail(p, msg);
		} else if (rc) {
			snprintf(msg, sizeof msg, "bad value for %s.%s: '%.64s%s' (expected %s)",
				 k->section, k->name, value, strlen(value) > 64 ? "..." : "",
				 k->expect);
			config_fail(p, msg);
		}
		return 1;
	}
	if (!*section)
		snprintf(msg, sizeof msg, "key '%.64s' outside any section", name);
	else if (!known_section)
		snprintf(msg, sizeof msg, "unknown section [%.64s] (key '%.64s')", section, name);
	else
		snprintf(msg, sizeof msg, "unknown key '%.64s' in section [%.64s]", name, section);
	config_fail(p, msg);
	return 1;
}

static int config_at_eof(FILE *f)
{
	int ch = getc(f);
	if (ch == EOF)
		return 1;
	ungetc(ch, f);
	return 0;
}

/* fgets for inih that counts lines (the packaged libinih does not pass line
 * numbers to the handler) and refuses what inih would silently mangle. */
static char *config_reader(char *str, int num, void *stream)
{
	struct config_parse *p = stream;
	if (p->err_line)
		return NULL;
	if (!fgets(str, num, p->f)) {
		if (ferror(p->f))
			p->read_errno = errno ? errno : EIO;
		return NULL;
	}
	p->line++;
	size_t n = strlen(str);
	if (n && str[n - 1] != '\n' && !config_at_eof(p->f)) {
		/* inih would cut the line and parse the rest as a new line. */
		char msg[64];
		snprintf(msg, sizeof msg, "line too long (max %d bytes)", num - 3);
		config_fail(p, msg);
		return NULL;
	}
	/* An indented line would continue the previous value (inih multi-line
	 * values); here indentation means nothing. */
	size_t lead = strspn(str, " \t");
	memmove(str, str + lead, n - lead + 1);
	return str;
}

static int config_cross_check(struct config_parse *p)
{
	if (p->c->c2s_tls_port && p->c->c2s_tls_port == p->c->c2s_port) {
		snprintf(p->err, p->errlen, "%s: c2s.port and c2s.tls_port are both %u", p->path,
			 (unsigned)p->c->c2s_port);
		return -1;
	}
	for (unsigned i = 0; i < p->c->nhosts; i++)
		if (!strcmp(p->c->hosts[i], p->c->domain)) {
			snprintf(p->err, p->errlen, "%s: server.hosts repeats server.domain %s",
				 p->path, p->c->domain);
			return -1;
		}
	for (unsigned i = 0; i < p->c->ntls_hosts; i++) {
		const struct config_tls_host *h = &p->c->tls_hosts[i];
		const char *missing = !*h->cert ? "certificate" : !*h->key ? "key" : NULL;
		if (missing) {
			snprintf(p->err, p->errlen, "%s:%d: tls.%s.%s is missing", p->path, h->line,
				 missing, h->domain);
			return -1;
		}
		if (!config_hosted(p->c, h->domain)) {
			snprintf(p->err, p->errlen,
				 "%s:%d: tls: %s is not a hosted domain (server.domain or server.hosts)",
				 p->path, h->line, h->domain);
			return -1;
		}
	}
	return 0;
}

const char *config_hosted(const struct config *c, const char *dom)
{
	if (!strcmp(dom, c->domain))
		return c->domain;
	for (unsigned i = 0; i < c->nhosts; i++)
		if (!strcmp(dom, c->hosts[i]))
			return c->hosts[i];
	return NULL;
}

/* [core] control not set: core.ctl in the database's directory, so a file
 * that moves the database (tests, the bench) moves the socket along and
 * never names a directory that does not exist.  -1 when it would not fit. */
static int config_default_control(struct config_parse *p)
{
	struct config *c = p->c;
	const char *slash = strrchr(c->database, '/');
	int dl = slash ? (int)(slash - c->database + 1) : 0;
	int n = snprintf(c->control, sizeof c->control, "%.*score.ctl", dl, c->database);
	if (n > 0 && (size_t)n < sizeof c->control)
		return 0;
	snprintf(p->err, p->errlen, "%s: [core] database's directory is too long for the "
		 "control socket: set [core] control", p->path);
	return -1;
}

int config_load(const char *path, struct config *c, char *err, size_t errlen)
{
	/* Work on a copy so that a failed load leaves *c as it was. */
	struct config tmp = *c;
	struct config_parse p = {.c = &tmp, .path = path, .err = err, .errlen = errlen};
	p.f = fopen(path, "r");
	if (!p.f) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	int rc = ini_parse_stream(config_reader, &p, config_handler, &p);
	fclose(p.f);
	/* inih reports (rc) the first line it could not parse, but goes on; an
	 * error our handler saw on a later line is not the first one. */
	if (rc > 0 && (!p.err_line || rc < p.err_line)) {
		snprintf(err, errlen, "%s:%d: syntax error (expected [section] or key = value)",
			 path, rc);
		return -1;
	}
	if (p.err_line)
		return -1;
	if (p.read_errno) {
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(p.read_errno));
		return -1;
	}
	if (rc) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	if (config_cross_check(&p) || (!tmp.control[0] && config_default_control(&p)))
		return -1;
	*c = tmp;
	return 0;
}
