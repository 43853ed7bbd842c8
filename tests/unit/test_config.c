/* test_config: defaults, overrides, and that every error names file and line. */
#include "lib/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

static char dir[] = "/tmp/starling-test-config-XXXXXX";
static char path[300];
static char err[512];

/* Write text to the test file and load it over defaults into c. */
static int load(struct config *c, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f || fputs(text, f) == EOF || fclose(f)) {
		perror(path);
		exit(1);
	}
	config_defaults(c);
	err[0] = '\0';
	return config_load(path, c, err, sizeof err);
}

/* Expect text to fail with "<path>:<line>: <msg>" (line 0: no line part). */
static void fails(const char *text, int line, const char *msg)
{
	struct config c, d;
	char want[700];
	config_defaults(&d);
	if (line)
		snprintf(want, sizeof want, "%s:%d: %s", path, line, msg);
	else
		snprintf(want, sizeof want, "%s: %s", path, msg);
	CHECK(load(&c, text) == -1);
	CHECK_STR(err, want);
	CHECK(!memcmp(&c, &d, sizeof c)); /* a failed load changes nothing */
}

static void defaults(void)
{
	struct config c;
	config_defaults(&c);
	CHECK_STR(c.domain, "localhost");
	CHECK_STR(c.log_level, "info");
	CHECK_STR(c.log_format, "text");
	CHECK_STR(c.log_file, "");
	CHECK_STR(c.c2s_address, "127.0.0.1");
	CHECK(c.c2s_port == 5222 && c.c2s_tls_port == 5223 && c.workers == 0);
	CHECK(c.max_stanza_size == 262144 && c.require_tls == 1 && c.auth_timeout == 60);
	CHECK(c.channel_binding == 0); /* off by default: docs/configuration.md */
	CHECK(c.digest_md5 == 0);      /* RFC 6331: historic, off by default */
	CHECK(c.max_connections == 65536 && c.scram_iterations == 4096);
	CHECK(c.idle_timeout == 300 && c.ping_timeout == 60 && c.max_sessions == 100);
	CHECK(c.auth_failures_per_address == 10 && c.auth_failure_window == 60);
	CHECK(c.max_connections_per_address == 0 && c.auth_failures_per_account == 10);
	CHECK(c.read_rate == 262144 && c.read_burst == 1048576);
	CHECK(c.batch_wait_us == 200 && c.batch_wait_busy == 16); /* only after busy turns */
	CHECK_STR(c.tls_cert, "var/cert.pem");
	CHECK_STR(c.tls_key, "var/key.pem");
	CHECK(c.tls_client_ca[0] == '\0'); /* no client certificates asked for */
	CHECK_STR(c.link_address, "unix:var/core.sock");
	CHECK_STR(c.database, "var/starling.db");
	CHECK(c.control[0] == '\0'); /* set by config_load: beside the database */
	snprintf(c.control, sizeof c.control, "var/core.ctl");
	CHECK_STR(c.c2s_metrics, "127.0.0.1:9522");
	CHECK_STR(c.core_metrics, "127.0.0.1:9523");

	struct config d;
	CHECK(load(&d, "") == 0 && !memcmp(&c, &d, sizeof c));
	CHECK(load(&d, "; only a comment\n# another\n\n[server]\n") == 0);
	CHECK(!memcmp(&c, &d, sizeof c));
}

static void overrides(void)
{
	struct config c;
	CHECK(load(&c, "\xef\xbb\xbf; full file\r\n"
		       "[server]\r\n"
		       "domain = Example.ORG.\r\n"
		       "log_level = debug ; inline comment\n"
		       "[c2s]\n"
		       "  address = ::\n" /* indentation is not a continuation */
		       "port = 15222\n"
		       "tls_port = 0\n"
		       "workers = 4\n"
		       "max_stanza_size = 10000\n"
		       "require_tls = Off\n"
		       "channel_binding = yes\n"
		       "digest_md5 = true\n"
		       "auth_timeout = 3600\n"
		       "max_connections = 1\n"
		       "max_connections_per_address = 50\n"
		       "auth_failures_per_account = 0\n"
		       "read_rate = 0\n"
		       "read_burst = 1024\n"
		       "batch_wait_us = 0\n"
		       "batch_wait_busy = 4096\n"
		       "[tls]\n"
		       "certificate = /etc/ssl/xmpp/fullchain.pem\n"
		       "key = /etc/ssl/xmpp/privkey.pem\n"
		       "client_ca = /etc/ssl/xmpp/clients.pem\n"
		       "[link]\n"
		       "address = [::1]:7000\n"
		       "[core]\n"
		       "database = /var/lib/starling/db.sqlite\n"
		       "scram_iterations = 10000\n") == 0);
	CHECK_STR(err, "");
	CHECK_STR(c.domain, "example.org");
	CHECK_STR(c.log_level, "debug");
	CHECK_STR(c.c2s_address, "::");
	CHECK(c.c2s_port == 15222 && c.c2s_tls_port == 0 && c.workers == 4);
	CHECK(c.max_stanza_size == 10000 && c.require_tls == 0 && c.auth_timeout == 3600);
	CHECK(c.channel_binding == 1 && c.digest_md5 == 1);
	CHECK(c.max_connections == 1 && c.scram_iterations == 10000);
	CHECK(c.max_connections_per_address == 50 && c.auth_failures_per_account == 0);
	CHECK(c.read_rate == 0 && c.read_burst == 1024);
	CHECK(c.batch_wait_us == 0 && c.batch_wait_busy == 4096);
	CHECK_STR(c.tls_cert, "/etc/ssl/xmpp/fullchain.pem");
	CHECK_STR(c.tls_key, "/etc/ssl/xmpp/privkey.pem");
	CHECK_STR(c.tls_client_ca, "/etc/ssl/xmpp/clients.pem");
	CHECK_STR(c.link_address, "[::1]:7000");
	CHECK_STR(c.database, "/var/lib/starling/db.sqlite");

	/* Later keys win; booleans in every spelling. */
	static const char *truths[] = {"true", "yes", "on", "1", "TRUE"};
	static const char *lies[] = {"false", "no", "off", "0", "No"};
	for (int i = 0; i < 5; i++) {
		char text[128];
		snprintf(text, sizeof text, "[c2s]\nrequire_tls = %s\n", lies[i]);
		CHECK(load(&c, text) == 0 && c.require_tls == 0);
		snprintf(text, sizeof text, "[c2s]\nrequire_tls=0\nrequire_tls = %s\n", truths[i]);
		CHECK(load(&c, text) == 0 && c.require_tls == 1);
	}
	CHECK(load(&c, "[link]\naddress = localhost:5347\n[c2s]\nport=65535\ntls_port=1\n") == 0);
	CHECK_STR(c.link_address, "localhost:5347");
	CHECK(c.c2s_port == 65535 && c.c2s_tls_port == 1);
	CHECK(load(&c, "[server]\ndomain = xn--bcher-kva.example\n") == 0);
	CHECK_STR(c.domain, "xn--bcher-kva.example");
	CHECK(load(&c, "[c2s]\naddress = 0.0.0.0\n") == 0);
	CHECK_STR(c.c2s_address, "0.0.0.0");
}

/* [c2s] metrics / [core] metrics: HOST:PORT, or off (or empty) for none. */
static void metrics(void)
{
	struct config c;
	CHECK(load(&c, "[c2s]\nmetrics = off\n[core]\nmetrics =\n") == 0);
	CHECK_STR(c.c2s_metrics, "");
	CHECK_STR(c.core_metrics, "");
	CHECK(load(&c, "[c2s]\nmetrics = [::1]:9100\n[core]\nmetrics = 0.0.0.0:9101\n") == 0);
	CHECK_STR(c.c2s_metrics, "[::1]:9100");
	CHECK_STR(c.core_metrics, "0.0.0.0:9101");
	fails("[c2s]\nmetrics = unix:/tmp/m.sock\n", 2,
	      "bad value for c2s.metrics: 'unix:/tmp/m.sock' (expected HOST:PORT, or off)");
	fails("[core]\n\nmetrics = 9523\n", 3,
	      "bad value for core.metrics: '9523' (expected HOST:PORT, or off)");
	fails("[core]\nmetrics = localhost:0\n", 2,
	      "bad value for core.metrics: 'localhost:0' (expected HOST:PORT, or off)");
}

static void errors(void)
{
	char msg[400], text[600];
	fails("[server]\ndomain = a\n[c2s]\nbogus = 1\n", 4,
	      "unknown key 'bogus' in section [c2s]");
	fails("[s2s]\nport = 5269\n", 2, "unknown section [s2s] (key 'port')");
	fails("[tls]\nclient_ca =\n", 2, "bad value for tls.client_ca: '' (expected a file name)");
	fails("[c2s]\ndigest_md5 = md5\n", 2,
	      "bad value for c2s.digest_md5: 'md5' (expected true/false, yes/no, on/off or 1/0)");
	fails("[c2s]\nchannel_binding = maybe\n", 2,
	      "bad value for c2s.channel_binding: 'maybe' (expected true/false, yes/no, on/off or 1/0)");
	fails("domain = x\n", 1, "key 'domain' outside any section");
	fails("[c2s]\n\n\nport = abc\n", 4,
	      "bad value for c2s.port: 'abc' (expected an integer 1..65535)");
	fails("[c2s]\nport = 0\n", 2, "bad value for c2s.port: '0' (expected an integer 1..65535)");
	fails("[c2s]\nread_burst = 1023\n", 2,
	      "bad value for c2s.read_burst: '1023' (expected an integer 1024..1073741824)");
	fails("[c2s]\nread_rate = 1073741825\n", 2,
	      "bad value for c2s.read_rate: '1073741825' (expected an integer 0..1073741824)");
	fails("[c2s]\nmax_connections_per_address = -1\n", 2,
	      "bad value for c2s.max_connections_per_address: '-1' (expected an integer "
	      "0..16777216)");
	fails("[c2s]\nauth_failures_per_account = 1000001\n", 2,
	      "bad value for c2s.auth_failures_per_account: '1000001' (expected an integer "
	      "0..1000000)");
	fails("[c2s]\nport = 65536\n", 2,
	      "bad value for c2s.port: '65536' (expected an integer 1..65535)");
	fails("[c2s]\nport = -1\n", 2,
	      "bad value for c2s.port: '-1' (expected an integer 1..65535)");
	fails("[c2s]\nport = 52x\n", 2,
	      "bad value for c2s.port: '52x' (expected an integer 1..65535)");
	fails("[c2s]\nport = +5\n", 2,
	      "bad value for c2s.port: '+5' (expected an integer 1..65535)");
	fails("[c2s]\nworkers = 99999999999999999999999\n", 2,
	      "bad value for c2s.workers: '99999999999999999999999' (expected an integer 0..1024)");
	fails("[c2s]\ntls_port = 70000\n", 2,
	      "bad value for c2s.tls_port: '70000' (expected an integer 0..65535)");
	fails("[c2s]\nmax_stanza_size = 9999\n", 2,
	      "bad value for c2s.max_stanza_size: '9999' (expected an integer 10000..16777216)");
	fails("[c2s]\nauth_timeout = 0\n", 2,
	      "bad value for c2s.auth_timeout: '0' (expected an integer 1..3600)");
	fails("[c2s]\nping_timeout = 0\n", 2,
	      "bad value for c2s.ping_timeout: '0' (expected an integer 1..3600)");
	fails("[c2s]\nidle_timeout = 86401\n", 2,
	      "bad value for c2s.idle_timeout: '86401' (expected an integer 0..86400)");
	fails("[c2s]\nmax_connections = 0\n", 2,
	      "bad value for c2s.max_connections: '0' (expected an integer 1..16777216)");
	fails("[core]\nscram_iterations = 4095\n", 2,
	      "bad value for core.scram_iterations: '4095' (expected an integer 4096..10000000)");
	fails(
	    "[c2s]\nrequire_tls = maybe\n", 2,
	    "bad value for c2s.require_tls: 'maybe' (expected true/false, yes/no, on/off or 1/0)");
	fails("[c2s]\nrequire_tls =\n", 2,
	      "bad value for c2s.require_tls: '' (expected true/false, yes/no, on/off or 1/0)");
	fails("[server]\nlog_format = xml\n", 2,
	      "bad value for server.log_format: 'xml' (expected text, logfmt or json)");
	fails("[server]\nlog_file =\n", 2,
	      "bad value for server.log_file: '' (expected a file name)");
	fails("[server]\nlog_level = verbose\n", 2,
	      "bad value for server.log_level: 'verbose' (expected error, warn, info or debug)");
	static const char *domains[] = {"", ".", "a..b", ".a", "a b", "a@b", "a/b", "[::1]"};
	for (size_t i = 0; i < sizeof domains / sizeof domains[0]; i++) {
		snprintf(text, sizeof text, "[server]\ndomain = %s\n", domains[i]);
		snprintf(msg, sizeof msg,
			 "bad value for server.domain: '%s' (expected a DNS domain name)",
			 domains[i]);
		fails(text, 2, msg);
	}
	char label[70];
	memset(label, 'a', 64);
	label[64] = '\0';
	snprintf(text, sizeof text, "[server]\ndomain = %s.org\n", label);
	snprintf(msg, sizeof msg,
		 "bad value for server.domain: '%.64s...' (expected a DNS domain name)", text + 18);
	fails(text, 2, msg);
	fails("[c2s]\naddress = localhost\n", 2,
	      "bad value for c2s.address: 'localhost' (expected an IPv4 or IPv6 address)");
	/* Fits the parser's line, not the 64-byte field. */
	snprintf(text, sizeof text, "[c2s]\naddress = 1111:2222:3333:4444:5555:6666:7777:8888%s\n",
		 "%0123456789012345678901234567");
	fails(text, 2,
	      "bad value for c2s.address: "
	      "'1111:2222:3333:4444:5555:6666:7777:8888%012345678901234567890"
	      "123...' (expected an IPv4 or IPv6 address)");
	static const char *links[] = {"unix:", "host",	   "host:0",	"host:70000",
				      ":5000", "::1:5000", "[::1]5000", "[]:5000"};
	for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
		snprintf(text, sizeof text, "[link]\naddress = %s\n", links[i]);
		snprintf(msg, sizeof msg,
			 "bad value for link.address: '%s' (expected unix:PATH or HOST:PORT)",
			 links[i]);
		fails(text, 2, msg);
	}
	char longpath[160];
	memset(longpath, 'p', 120);
	longpath[120] = '\0';
	snprintf(text, sizeof text, "[link]\naddress = unix:%s\n", longpath);
	CHECK(load(&(struct config){0}, text) == -1 &&
	      strstr(err, ":2: bad value for link.address"));
	fails("[tls]\ncertificate =\n", 2,
	      "bad value for tls.certificate: '' (expected a file name)");
	fails("[core]\ndatabase = ; nothing\n", 2,
	      "bad value for core.database: '' (expected a file name)");
	/* Syntax, structure and limits of the file itself. */
	fails("[server]\nnoequals\n", 2, "syntax error (expected [section] or key = value)");
	fails("[server\ndomain = x\n", 1, "syntax error (expected [section] or key = value)");
	memset(text, 'x', 300);
	memcpy(text, "[tls]\nkey = ", 12);
	strcpy(text + 300, "\n[c2s]\nport = bad\n");
	fails(text, 2, "line too long (max 197 bytes)");
	fails("[c2s]\nport = 5223\n", 0, "c2s.port and c2s.tls_port are both 5223");
	/* The first of several errors is the one reported. */
	fails("[c2s]\nport = 1\nworkers = x\nbogus = 2\n", 3,
	      "bad value for c2s.workers: 'x' (expected an integer 0..1024)");

	struct config c;
	config_defaults(&c);
	CHECK(config_load("/nonexistent/starling.conf", &c, err, sizeof err) == -1);
	CHECK_STR(err, "/nonexistent/starling.conf: cannot open: No such file or directory");
	char want[400];
	snprintf(want, sizeof want, "%s: cannot read: Is a directory", dir);
	CHECK(config_load(dir, &c, err, sizeof err) == -1);
	CHECK_STR(err, want);
}

/* [server] hosts: virtual hosts beside the primary domain. */
static void hosts(void)
{
	struct config c;
	config_defaults(&c);
	CHECK(c.nhosts == 0);
	CHECK(config_hosted(&c, "localhost") == c.domain);
	CHECK(config_hosted(&c, "a.example") == NULL);
	CHECK(load(&c, "[server]\nhosts = A.example., b.example ,c.example\n"
		       "hosts=d.example\ndomain = main.example\n") == 0);
	CHECK(c.nhosts == 4);
	CHECK_STR(c.hosts[0], "a.example");
	CHECK_STR(c.hosts[1], "b.example");
	CHECK_STR(c.hosts[2], "c.example");
	CHECK_STR(c.hosts[3], "d.example");
	CHECK(config_hosted(&c, "main.example") == c.domain);
	CHECK(config_hosted(&c, "c.example") == c.hosts[2]);
	CHECK(config_hosted(&c, "localhost") == NULL);
	CHECK(config_hosted(&c, "example") == NULL);

	fails("[server]\nhosts = a.example, A.EXAMPLE\n", 2,
	      "server.hosts: a domain is listed twice");
	fails("[server]\nhosts = a.example\nhosts = b.example,a.example.\n", 3,
	      "server.hosts: a domain is listed twice");
	/* The primary domain may be named after the list: checked at the end. */
	fails("[server]\nhosts = a.example\ndomain = A.example\n", 0,
	      "server.hosts repeats server.domain a.example");
	fails("[server]\nhosts = localhost\n", 0, "server.hosts repeats server.domain localhost");
	static const char *bad[] = {"", ",", "a.example,", "a..b", "a b", "a@b", "a/b"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char text[128], msg[256];
		snprintf(text, sizeof text, "[server]\nhosts = %s\n", bad[i]);
		snprintf(msg, sizeof msg,
			 "bad value for server.hosts: '%s' (expected DNS domain names separated "
			 "by commas)",
			 bad[i]);
		fails(text, 2, msg);
	}
	/* CONFIG_MAX_HOSTS is enforced across lines. */
	char text[8192];
	size_t n = (size_t)snprintf(text, sizeof text, "[server]\n");
	for (int i = 0; i < CONFIG_MAX_HOSTS; i++)
		n += (size_t)snprintf(text + n, sizeof text - n, "hosts = h%d.example\n", i);
	CHECK(load(&c, text) == 0 && c.nhosts == CONFIG_MAX_HOSTS);
	CHECK_STR(c.hosts[CONFIG_MAX_HOSTS - 1], "h31.example");
	snprintf(text + n, sizeof text - n, "hosts = one-too-many.example\n");
	char msg[64];
	snprintf(msg, sizeof msg, "server.hosts: more than %d domains", CONFIG_MAX_HOSTS);
	fails(text, CONFIG_MAX_HOSTS + 2, msg);
}

/* [tls] certificate.<domain> / key.<domain>: a pair per hosted domain for
 * SNI; session_tickets. */
static void tls_hosts(void)
{
	struct config c;
	config_defaults(&c);
	CHECK(c.ntls_hosts == 0 && c.tls_session_tickets == 1 && c.tls_lean_records == 1);
	CHECK(load(&c, "[tls]\ncertificate.B.Example. = b/cert.pem\nkey.b.example = b/key.pem\n"
		       "session_tickets = off\nlean_records = no\nkey.a.example = a/key.pem\n"
		       "certificate.a.example = a/cert.pem\n"
		       "[server]\nhosts = a.example, b.example\n") == 0);
	CHECK(c.ntls_hosts == 2 && c.tls_session_tickets == 0 && c.tls_lean_records == 0);
	CHECK_STR(c.tls_hosts[0].domain, "b.example");
	CHECK_STR(c.tls_hosts[0].cert, "b/cert.pem");
	CHECK_STR(c.tls_hosts[0].key, "b/key.pem");
	CHECK_STR(c.tls_hosts[1].domain, "a.example");
	CHECK_STR(c.tls_hosts[1].cert, "a/cert.pem");
	CHECK_STR(c.tls_hosts[1].key, "a/key.pem");
	/* The primary domain may have its own pair too. */
	CHECK(load(&c, "[tls]\ncertificate.localhost = l.pem\nkey.localhost = k.pem\n") == 0 &&
	      c.ntls_hosts == 1);

	fails("[server]\nhosts = a.example\n[tls]\ncertificate.a.example = a.pem\n", 4,
	      "tls.key.a.example is missing");
	fails("[server]\nhosts = a.example\n[tls]\n\nkey.a.example = a.pem\n", 5,
	      "tls.certificate.a.example is missing");
	fails("[tls]\ncertificate.c.example = c.pem\nkey.c.example = k.pem\n", 2,
	      "tls: c.example is not a hosted domain (server.domain or server.hosts)");
	fails("[tls]\ncertificate.a..example = c.pem\n", 2,
	      "bad domain in tls.certificate.a..example (expected certificate.DOMAIN or "
	      "key.DOMAIN)");
	fails("[tls]\nkey. = c.pem\n", 2,
	      "bad domain in tls.key. (expected certificate.DOMAIN or key.DOMAIN)");
	fails("[tls]\nkey.localhost =\n", 2,
	      "bad value for tls.key.localhost: '' (expected a file name)");
	fails("[tls]\ncert.localhost = x\n", 2, "unknown key 'cert.localhost' in section [tls]");
	fails("[tls]\nsession_tickets = sometimes\n", 2,
	      "bad value for tls.session_tickets: 'sometimes' (expected true/false, yes/no, on/off "
	      "or 1/0)");
	/* One pair per hosted domain at most. */
	char text[8192];
	size_t n = (size_t)snprintf(text, sizeof text, "[tls]\n");
	for (int i = 0; i <= CONFIG_MAX_HOSTS; i++)
		n += (size_t)snprintf(text + n, sizeof text - n, "key.h%d.example = k\n", i);
	snprintf(text + n, sizeof text - n, "key.one-too-many.example = k\n");
	fails(text, CONFIG_MAX_HOSTS + 3,
	      "tls.key.one-too-many.example: more certificates than hosted domains");
}

static int note_key(void *ctx, const char *key)
{
	char *seen = ctx;
	strcat(seen, key);
	strcat(seen, " ");
	return 0;
}

static int stop_key(void *ctx, const char *key)
{
	(void)ctx;
	return strcmp(key, "server.hosts") ? -1 : 7;
}

/* starlingctl reload names exactly the keys whose value changed, the host
 * list and a domain's certificate included; the line a key is on is no
 * change. */
static void diff(void)
{
	static struct config a, b;
	char seen[512] = "";
	CHECK(load(&a, "[server]\nhosts = b.example\n[core]\ncontrol = /run/long/name.ctl\n"
		       "[tls]\ncertificate.b.example = b.pem\nkey.b.example = k.pem\n") == 0);
	CHECK(load(&b, "[server]\nhosts = b.example\n\n[core]\ncontrol = /run/long/name.ctl\n"
		       "[tls]\n\ncertificate.b.example = b.pem\nkey.b.example = k.pem\n") == 0);
	CHECK(config_diff(&a, &b, note_key, seen) == 0 && !strcmp(seen, ""));
	CHECK(load(&b, "[server]\nhosts = c.example\nlog_level = debug\n[core]\ncontrol = /x\n"
		       "control_group = yes\n[c2s]\nport = 1\n"
		       "[tls]\ncertificate.c.example = b.pem\nkey.c.example = k.pem\n") == 0);
	CHECK(config_diff(&a, &b, note_key, seen) == 0);
	CHECK(!strcmp(seen, "server.hosts server.log_level c2s.port core.control "
			    "core.control_group tls.certificate.<domain> "));
	CHECK(config_diff(&a, &b, stop_key, NULL) == 7); /* the first one stops it */
	/* [core] control defaults to core.ctl beside the database. */
	CHECK(load(&a, "") == 0 && !strcmp(a.control, "var/core.ctl"));
	CHECK(load(&a, "[core]\ndatabase = /srv/x/s.db\n") == 0 &&
	      !strcmp(a.control, "/srv/x/core.ctl"));
	CHECK(load(&a, "[core]\ndatabase = s.db\n") == 0 && !strcmp(a.control, "core.ctl"));
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof path, "%s/starling.conf", dir);
	defaults();
	overrides();
	errors();
	metrics();
	hosts();
	tls_hosts();
	diff();
	unlink(path);
	rmdir(dir);
	CHECK_DONE();
}
