/* config: the one configuration file shared by starling-core, starling-cm and
 * starlingctl (INI syntax, parsed with libinih).  Every key is documented in
 * docs/configuration.md; etc/starling.conf is the commented default. */
#ifndef STARLING_CONFIG_H
#define STARLING_CONFIG_H
#include <stddef.h>
#include <stdint.h>

#define CONFIG_STR 256
/* Hosted domains besides [server] domain: each costs CONFIG_STR bytes here,
 * and every stream header and routed JID is compared with each of them. */
#define CONFIG_MAX_HOSTS 32

/* One hosted domain's own certificate ([tls] certificate.<domain>). */
struct config_tls_host {
	char domain[CONFIG_STR]; /* prepared like [server] domain */
	char cert[CONFIG_STR];	 /* "" until its key line is read */
	char key[CONFIG_STR];
	int line; /* where the domain was first named, for the cross check */
};

struct config {
	/* [server] */
	char domain[CONFIG_STR];	/* the primary hosted domain, prepared (default "localhost") */
	/* Further hosted domains (virtual hosts), prepared, none equal to
	 * domain or to each other; [server] hosts, repeatable. */
	char hosts[CONFIG_MAX_HOSTS][CONFIG_STR];
	unsigned nhosts;
	char log_level[16];		/* error | warn | info | debug */
	char log_format[16];		/* text | logfmt | json (default text) */
	char log_file[CONFIG_STR];	/* appended to; "" = stderr (default) */
	/* [c2s] */
	char c2s_address[64];		/* listen address (default 127.0.0.1) */
	uint16_t c2s_port;		/* STARTTLS port (default 5222) */
	uint16_t c2s_tls_port;		/* direct TLS port, XEP-0368 (default 5223; 0 = off) */
	unsigned workers;		/* worker threads; 0 = one per online CPU */
	uint32_t max_stanza_size;	/* bytes (default 262144) */
	int require_tls;		/* refuse SASL before TLS (default 1) */
	int channel_binding;		/* offer SCRAM -PLUS over TLS (default 0) */
	/* RFC 6331: historic DIGEST-MD5, offered and its hash stored (default 0) */
	int digest_md5;
	unsigned auth_timeout;		/* seconds to finish login (default 60) */
	unsigned idle_timeout;		/* seconds of silence before we ping (default 300; 0 = off) */
	unsigned ping_timeout;		/* seconds for any answer to that ping (default 60) */
	unsigned resume_timeout;	/* XEP-0198 §5: seconds a lost session waits (300; 0 = off) */
	unsigned batch_wait_us;	/* a worker gathers completions this long before waking (200; 0 = off) */
	unsigned batch_wait_busy; /* ... only after a turn that handled this many (16; 0 = always) */
	unsigned trace_sample;	/* 1 client stanza in N carries its times through the core (64; 0 = off) */
	unsigned auth_failures_per_address; /* wrong passwords per window (default 10; 0 = off) */
	unsigned auth_failure_window;	/* seconds (default 60) */
	unsigned max_connections;	/* per worker (default 65536) */
	unsigned max_connections_per_address; /* whole process (default 0 = off) */
	unsigned auth_failures_per_account; /* wrong passwords per window (default 10; 0 = off) */
	unsigned read_rate;		/* bytes/s read from one client (default 262144; 0 = off) */
	unsigned read_burst;		/* bytes (default 1048576) */
	char c2s_metrics[CONFIG_STR];	/* /metrics HOST:PORT, "" = off (default 127.0.0.1:9522) */
	/* [tls] */
	char tls_cert[CONFIG_STR];	/* PEM certificate chain: the default (no or unknown SNI) */
	char tls_key[CONFIG_STR];	/* PEM private key */
	char tls_client_ca[CONFIG_STR];	/* PEM CAs of client certificates, "" = none asked for */
	int tls_session_tickets;	/* stateless resumption tickets (default 1) */
	int tls_lean_records;		/* TLS 1.3 records without OpenSSL after the handshake (default 1) */
	/* certificate.<domain> / key.<domain>: the pair SNI picks for one
	 * hosted domain; both given, domain hosted (checked after the file). */
	struct config_tls_host tls_hosts[CONFIG_MAX_HOSTS + 1];
	unsigned ntls_hosts;
	/* [link] */
	char link_address[CONFIG_STR];	/* "unix:/path" or "host:port" (default unix:var/core.sock) */
	/* [core] */
	char database[CONFIG_STR];	/* SQLite file (default var/starling.db) */
	uint32_t scram_iterations;	/* PBKDF2 iterations for new credentials (default 4096) */
	unsigned max_sessions;		/* sessions (resources) per account (default 100) */
	unsigned core_batch_wait_us; /* the core gathers wake-ups this long (0 = off) */
	char control[CONFIG_STR];	/* starlingctl's Unix socket (default: core.ctl beside database) */
	int control_group;		/* mode 0660 instead of 0600 (default 0) */
	char core_metrics[CONFIG_STR];	/* /metrics HOST:PORT, "" = off (default 127.0.0.1:9523) */
};

void config_defaults(struct config *c);
/* Load path over what c holds (normally the defaults).  Returns 0, or -1
 * with a message naming the file and line in err (unknown section or key,
 * bad value, syntax, line over 197 bytes, unreadable file); after a failure
 * c is unchanged.  Values are range-checked; domain comes back lowercased. */
int config_load(const char *path, struct config *c, char *err, size_t errlen);
/* The stored copy of a hosted domain (the primary or one of hosts) equal to
 * the prepared name dom, or NULL: the pointer lives as long as c. */
/* Calls fn with "section.key" for each key whose value differs between a
 * and b (hosted domains and per-domain certificates count as one key each);
 * stops at fn's first non-zero return, which it returns. */
int config_diff(const struct config *a, const struct config *b,
		int (*fn)(void *ctx, const char *key), void *ctx);
const char *config_hosted(const struct config *c, const char *dom);

#endif
