/* report: the progress line, the human table and the JSON result file, and
 * the figures derived from the raw counts (shared with compare). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "lib/log.h"
#include "bench.h"

static const double pcts[] = { 50, 90, 99, 99.9 };
static const char *const pct_names[] = { "p50", "p90", "p99", "p99_9" };

static double secs(uint64_t ns)
{
	return (double)ns / 1e9;
}

static int traffic(const struct bench_run *r)
{
	return r->opt.scenario >= BENCH_CHAT; /* chat, presence, pep */
}

static uint64_t lost(const struct bench_run *r)
{
	return r->msgs_expected > r->msgs_recv ? r->msgs_expected - r->msgs_recv : 0;
}

double report_login_rate(const struct bench_run *r)
{
	uint64_t span = r->last_login_ns > r->t0 ? r->last_login_ns - r->t0 : 0;
	return span ? (double)r->online / secs(span) : 0.0;
}

double report_traffic_rate(const struct bench_run *r)
{
	return r->chat_s > 0 ? (double)r->msgs_recv / r->chat_s : 0.0;
}

/* pep: items published per second of sending */
static double publish_rate(const struct bench_run *r)
{
	return r->chat_s > 0 ? (double)r->msgs_sent / r->chat_s : 0.0;
}

double report_kib_per_conn(const struct bench_run *r)
{
	return r->rss_before_kib >= 0 && r->rss_at_n_kib >= 0 && r->online
		? (double)(r->rss_at_n_kib - r->rss_before_kib) / r->online : -1.0;
}

double report_server_ms_per_login(const struct bench_run *r)
{
	double c = sample_cpu_delta(&r->u_start, &r->u_login, -1);
	return c >= 0 && r->online ? c * 1e3 / r->online : -1.0;
}

double report_server_us_per_msg(const struct bench_run *r)
{
	double c = sample_cpu_delta(&r->u_login, &r->u_end, -1);
	return c >= 0 && r->msgs_recv ? c * 1e6 / (double)r->msgs_recv : -1.0;
}

double report_self_ms_per_login(const struct bench_run *r)
{
	return r->online ? (r->u_login.self_cpu_s - r->u_start.self_cpu_s) * 1e3 / r->online : -1;
}

double report_self_us_per_msg(const struct bench_run *r)
{
	return r->msgs_recv ? (r->u_end.self_cpu_s - r->u_login.self_cpu_s) * 1e6 /
			      (double)r->msgs_recv : -1;
}

static int step_passed(const struct bench_step *s)
{
	return !s->behind && !s->over_bound;
}

double report_sustained_rate(const struct bench_run *r)
{
	double best = 0;
	for (unsigned i = 0; i < r->nsteps; i++)
		if (step_passed(&r->steps[i]) && r->steps[i].delivered_per_s > best)
			best = r->steps[i].delivered_per_s;
	return best;
}

static unsigned load_u(const unsigned *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* One line per second on stderr, with the counts of all threads (printed by
 * the first thread alone). */
void report_progress(const struct bench_run *r, uint64_t now)
{
	struct bench_sync *s = r->sync;
	fprintf(stderr, "[%6.1fs] started %u/%u online %u failed %u dropped %u", secs(now - r->t0),
		load_u(&s->started), r->opt.n, load_u(&s->online), load_u(&s->failed),
		load_u(&s->dropped));
	if (traffic(r))
		fprintf(stderr, " | rate %.1f/s sent %" PRIu64 " delivered %" PRIu64, r->cur_rate,
			__atomic_load_n(&s->msgs_sent, __ATOMIC_RELAXED),
			__atomic_load_n(&s->msgs_recv, __ATOMIC_RELAXED));
	fputc('\n', stderr);
}

/* " (pid 101: 0.52, pid 102: 0.04)": each server process's share of a
 * per-unit CPU figure, so a two-process server shows where its time goes. */
static void table_per_pid(const struct bench_run *r, const struct bench_usage *a,
			  const struct bench_usage *b, double units, double scale)
{
	if (r->opt.npids < 2 || units <= 0)
		return;
	fputs(" (", stdout);
	for (unsigned i = 0; i < r->opt.npids; i++) {
		double d = sample_cpu_delta(a, b, (int)i);
		printf("%spid %d: %.3f", i ? ", " : "", r->opt.pids[i],
		       d >= 0 ? d * scale / units : -1);
	}
	fputc(')', stdout);
}

static void table_hist(const char *what, const struct hist *h)
{
	printf("%-22s count %" PRIu64 "  mean %.3f ms\n", what, h->count, hist_mean(h) / 1e6);
	printf("%-22s", "");
	for (size_t i = 0; i < sizeof pcts / sizeof pcts[0]; i++)
		printf(" %s %.3f ms ", pct_names[i], (double)hist_percentile(h, pcts[i]) / 1e6);
	printf(" max %.3f ms\n", h->count ? (double)h->max / 1e6 : 0.0);
}

static void table_steps(const struct bench_run *r)
{
	printf("%-22s %10s %12s %12s %9s %9s %10s %9s  %s\n", "steps", "rate/sender",
	       "offered/s", "delivered/s", "p50 ms", "p99 ms", "srv us/msg", "bench us", "");
	for (unsigned i = 0; i < r->nsteps; i++) {
		const struct bench_step *s = &r->steps[i];
		double d = (double)(s->delivered ? s->delivered : 1);
		printf("%-22s %10.1f %12.1f %12.1f %9.3f %9.3f %10.2f %9.2f  %s\n", "", s->rate,
		       s->offered_per_s, s->delivered_per_s, (double)s->p50_ns / 1e6,
		       (double)s->p99_ns / 1e6, s->server_cpu_s >= 0 ? s->server_cpu_s * 1e6 / d : -1,
		       s->self_cpu_s * 1e6 / d,
		       s->behind ? "behind" : s->over_bound ? "p99 over bound" : "ok");
	}
}

static void table_traffic(const struct bench_run *r)
{
	const struct bench_opts *o = &r->opt;
	if (o->scenario == BENCH_CHAT)
		printf("%-22s %u pairs, %.1f s per step\n", "chat", o->n / 2, o->duration);
	else
		printf("%-22s %u users, %u contacts each, %.1f s per step\n",
		       bench_scenario_names[o->scenario], o->n, o->contacts, o->duration);
	printf("%-22s sent %" PRIu64 " expected %" PRIu64 " delivered %" PRIu64 " lost %" PRIu64
	       " malformed %" PRIu64 " out of order %" PRIu64 "\n", "deliveries", r->msgs_sent,
	       r->msgs_expected, r->msgs_recv, lost(r), r->msgs_bad, r->msgs_reordered);
	if (o->faults) {
		printf("%-22s sent %" PRIu64 " delivered %" PRIu64 " offline %" PRIu64 " bounced %"
		       PRIu64 " duplicates %" PRIu64 " missing %" PRIu64 "\n", "fault accounting",
		       r->msgs_sent, r->fl.delivered, r->fl.offline, r->fl.bounced,
		       r->fl.duplicates, r->fl.missing);
		printf("%-22s %u lost, %" PRIu64 " taken up again (%" PRIu64 " failed attempts)\n",
		       "sessions", r->dropped, r->fl.relogins, r->fl.relogin_failures);
	}
	if (o->scenario == BENCH_PEP) {
		printf("%-22s %.1f/s published, %.1f/s delivered; %" PRIu64 " refused\n",
		       "publishes", publish_rate(r), report_traffic_rate(r), r->pub_errors);
		printf("%-22s disco#info answered %" PRIu64 ", last items of earlier runs %" PRIu64
		       " (not counted)\n", "caps", r->disco_answers, r->pep_last);
	}
	table_steps(r);
	printf("%-22s %.1f/s (p99 bound %.3f ms)\n", "highest sustained",
	       report_sustained_rate(r), o->p99_bound_ms);
	table_hist("latency (all steps)", &r->msg_lat);
	printf("%-22s server %.2f us", "CPU per delivery", report_server_us_per_msg(r));
	table_per_pid(r, &r->u_login, &r->u_end, (double)r->msgs_recv, 1e6);
	printf(", bench %.2f us\n", report_self_us_per_msg(r));
}

static void table_idle(const struct bench_run *r)
{
	printf("%-22s before %ld KiB, at N %ld KiB, held %.1f s\n", "server RSS",
	       r->rss_before_kib, r->rss_at_n_kib, r->hold_s);
	if (report_kib_per_conn(r) >= 0)
		printf("%-22s %.2f KiB\n", "per connection", report_kib_per_conn(r));
	if (r->opt.ping) {
		printf("%-22s sent %" PRIu64 " answered %" PRIu64 " errors %" PRIu64 "\n",
		       "XEP-0199 pings", r->pings_sent, r->pongs, r->ping_errors);
		table_hist("ping round trip", &r->ping_lat);
	}
}

void report_table(const struct bench_run *r)
{
	const struct bench_opts *o = &r->opt;
	printf("scenario %s: n=%u mech=%s %s%s%s %s:%d\n", bench_scenario_names[o->scenario], o->n,
	       bench_mech_names[o->mech], o->direct_tls ? "direct-tls" : "starttls",
	       o->sasl2 ? " +sasl2" : "", o->roster ? " +roster" : "", o->host, o->port);
	printf("%-22s %u of %u (failed %u, dropped later %u)\n", "logins", r->online, o->n,
	       r->failed, r->dropped);
	printf("%-22s %u connection(s) on the lean TLS 1.3 layer (tls/record)%s\n", "TLS records",
	       r->tls_lean, o->openssl_records ? ", --openssl-records" : "");
	printf("%-22s %.1f/s (target %.1f/s)\n", "login rate", report_login_rate(r),
	       o->scenario <= BENCH_IDLE ? o->rate : o->login_rate);
	for (int i = 0; i < FAIL_NCAUSES; i++)
		if (r->fail[i])
			printf("%-22s %s: %u\n", "login failures", bench_fail_names[i], r->fail[i]);
	table_hist("login latency", &r->login_lat);
	printf("%-22s server %.3f ms", "CPU per login", report_server_ms_per_login(r));
	table_per_pid(r, &r->u_start, &r->u_login, r->online, 1e3);
	printf(", bench %.3f ms\n", report_self_ms_per_login(r));
	if (o->scenario == BENCH_IDLE)
		table_idle(r);
	if (traffic(r))
		table_traffic(r);
	printf("%-22s CPU %.2f s, RSS %ld KiB (%.2f KiB per connection)\n", "bench itself",
	       r->u_end.self_cpu_s - r->u_start.self_cpu_s, r->u_end.self_rss_kib,
	       r->online ? (double)(r->u_end.self_rss_kib - r->u_start.self_rss_kib) / r->online
			 : 0.0);
}

static void json_hist(FILE *f, const char *name, const struct hist *h)
{
	fprintf(f, "  \"%s\": {\"count\": %" PRIu64 ", \"mean_ms\": %.6f", name, h->count,
		hist_mean(h) / 1e6);
	for (size_t i = 0; i < sizeof pcts / sizeof pcts[0]; i++)
		fprintf(f, ", \"%s_ms\": %.6f", pct_names[i],
			(double)hist_percentile(h, pcts[i]) / 1e6);
	fprintf(f, ", \"min_ms\": %.6f, \"max_ms\": %.6f, \"rel_error\": %.6f},\n",
		h->count ? (double)h->min / 1e6 : 0.0, h->count ? (double)h->max / 1e6 : 0.0,
		HIST_REL_ERR);
}

/* Strings in the settings come from the command line: escape for JSON. */
void report_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void json_settings(FILE *f, const struct bench_opts *o)
{
	fprintf(f, "  \"settings\": {\"scenario\": \"%s\", \"n\": %u, \"rate\": %g, "
		"\"login_rate\": %g, \"hold_s\": %g, \"duration_s\": %g, \"timeout_s\": %g, "
		"\"step\": %g, \"max_rate\": %g, \"p99_bound_ms\": %g, \"retries\": %u, \"contacts\": %u, "
		"\"concurrency\": %u, "
		"\"source_addrs\": %u, \"roster\": %s, \"ping\": %s, "
		"\"mech\": \"%s\", \"direct_tls\": %s, \"sasl2\": %s, \"openssl_records\": %s, "
		"\"port\": %d, "
		"\"first\": %d, \"faults\": %s, \"host\": ",
		bench_scenario_names[o->scenario], o->n, o->rate, o->login_rate, o->hold,
		o->duration, o->timeout, o->step, o->max_rate, o->p99_bound_ms, o->retries, o->contacts,
		o->concurrency,
		o->src_addrs, o->roster ? "true" : "false", o->ping ? "true" : "false",
		bench_mech_names[o->mech], o->direct_tls ? "true" : "false",
		o->sasl2 ? "true" : "false",
		o->openssl_records ? "true" : "false", o->port, o->first,
		o->faults ? "true" : "false");
	report_json_str(f, o->host);
	fputs(", \"domain\": ", f);
	report_json_str(f, o->domain);
	fputs(", \"user\": ", f);
	report_json_str(f, o->user_pat);
	fputs(", \"ports\": [", f);
	for (unsigned i = 0; i < o->nports; i++)
		fprintf(f, "%s%d", i ? ", " : "", o->ports[i]);
	fputs("], \"pids\": [", f);
	for (unsigned i = 0; i < o->npids; i++)
		fprintf(f, "%s%d", i ? ", " : "", o->pids[i]);
	fputs("]},\n", f);
}

static void json_login(FILE *f, const struct bench_run *r)
{
	fprintf(f, "  \"login\": {\"attempted\": %u, \"ok\": %u, \"failed\": %u, "
		"\"dropped\": %u, \"rate_per_s\": %.3f, \"max_in_progress\": %u, "
		"\"tls_lean\": %u, \"failures\": {",
		r->started, r->online, r->failed, r->dropped, report_login_rate(r),
		r->max_in_progress, r->tls_lean);
	for (int i = 0; i < FAIL_NCAUSES; i++)
		fprintf(f, "%s\"%s\": %u", i ? ", " : "", bench_fail_names[i], r->fail[i]);
	fputs("}},\n", f);
	json_hist(f, "login_latency", &r->login_lat);
}

/* CPU seconds of each server process between two marks, times scale (a
 * negative scale: no units to divide by, every entry -1). */
static void json_cpu_list(FILE *f, const struct bench_run *r, const struct bench_usage *a,
			  const struct bench_usage *b, double scale)
{
	fputc('[', f);
	for (unsigned i = 0; i < r->opt.npids; i++) {
		double d = sample_cpu_delta(a, b, (int)i);
		fprintf(f, "%s%.4f", i ? ", " : "", scale >= 0 && d >= 0 ? d * scale : -1.0);
	}
	fputc(']', f);
}

static void json_cpu(FILE *f, const struct bench_run *r)
{
	fputs("  \"server_cpu\": {\"login_s\": ", f);
	json_cpu_list(f, r, &r->u_start, &r->u_login, 1);
	fprintf(f, ", \"ms_per_login\": %.4f, \"ms_per_login_by_pid\": ",
		report_server_ms_per_login(r));
	json_cpu_list(f, r, &r->u_start, &r->u_login, r->online ? 1e3 / r->online : -1);
	fputs(", \"after_login_s\": ", f);
	json_cpu_list(f, r, &r->u_login, &r->u_end, 1);
	fprintf(f, ", \"us_per_delivery\": %.4f, \"us_per_delivery_by_pid\": ",
		report_server_us_per_msg(r));
	json_cpu_list(f, r, &r->u_login, &r->u_end,
		      r->msgs_recv ? 1e6 / (double)r->msgs_recv : -1);
	fputs("},\n", f);
	fprintf(f, "  \"bench_self\": {\"cpu_s\": %.3f, \"ms_per_login\": %.4f, "
		"\"us_per_delivery\": %.4f, \"rss_start_kib\": %ld, \"rss_end_kib\": %ld, "
		"\"kib_per_conn\": %.3f},\n", r->u_end.self_cpu_s - r->u_start.self_cpu_s,
		report_self_ms_per_login(r),
		report_self_us_per_msg(r), r->u_start.self_rss_kib, r->u_end.self_rss_kib,
		r->online ? (double)(r->u_end.self_rss_kib - r->u_start.self_rss_kib) / r->online
			  : -1.0);
}

static void json_steps(FILE *f, const struct bench_run *r)
{
	fputs("  \"steps\": [", f);
	for (unsigned i = 0; i < r->nsteps; i++) {
		const struct bench_step *s = &r->steps[i];
		fprintf(f, "%s\n    {\"rate\": %.3f, \"offered_per_s\": %.3f, \"sent\": %" PRIu64
			", \"expected\": %" PRIu64 ", \"delivered\": %" PRIu64 ", \"duration_s\": "
			"%.3f, \"delivered_per_s\": %.3f, \"p50_ms\": %.6f, \"p99_ms\": %.6f, "
			"\"p99_9_ms\": %.6f, \"max_ms\": %.6f, \"server_cpu_s\": %.3f, "
			"\"bench_cpu_s\": %.3f, \"behind\": %s, \"over_bound\": %s}", i ? "," : "",
			s->rate, s->offered_per_s, s->sent, s->expected, s->delivered, s->duration_s,
			s->delivered_per_s, (double)s->p50_ns / 1e6, (double)s->p99_ns / 1e6,
			(double)s->p999_ns / 1e6, (double)s->max_ns / 1e6, s->server_cpu_s,
			s->self_cpu_s, s->behind ? "true" : "false", s->over_bound ? "true" : "false");
	}
	fputs("],\n", f);
}

/* pep: the figures only it has, inside its object. */
static void json_pep(FILE *f, const struct bench_run *r)
{
	if (r->opt.scenario == BENCH_PEP)
		fprintf(f, ", \"published_per_s\": %.3f, \"publish_errors\": %" PRIu64
			", \"disco_answers\": %" PRIu64 ", \"last_items\": %" PRIu64,
			publish_rate(r), r->pub_errors, r->disco_answers, r->pep_last);
}

static void json_traffic(FILE *f, const struct bench_run *r)
{
	fprintf(f, "  \"%s\": {\"senders\": %u, \"pairs\": %u, \"contacts\": %u, \"sent\": %"
		PRIu64 ", \"expected\": %" PRIu64 ", \"delivered\": %" PRIu64 ", \"lost\": %"
		PRIu64 ", \"malformed\": %" PRIu64 ", \"out_of_order\": %" PRIu64 ", "
		"\"duration_s\": %.3f, \"delivered_per_s\": %.3f, \"sustained_per_s\": %.3f",
		bench_scenario_names[r->opt.scenario],
		r->opt.scenario == BENCH_CHAT ? r->opt.n / 2 : r->opt.n,
		r->opt.scenario == BENCH_CHAT ? r->opt.n / 2 : 0, r->opt.contacts, r->msgs_sent,
		r->msgs_expected, r->msgs_recv, lost(r), r->msgs_bad, r->msgs_reordered, r->chat_s,
		report_traffic_rate(r), report_sustained_rate(r));
	json_pep(f, r);
	fputs("},\n", f);
	if (r->opt.faults)
		fprintf(f, "  \"faults\": {\"sent\": %" PRIu64 ", \"delivered\": %" PRIu64
			", \"offline\": %" PRIu64 ", \"bounced\": %" PRIu64 ", \"duplicates\": %"
			PRIu64 ", \"missing\": %" PRIu64 ", \"sessions_lost\": %u, \"relogins\": %"
			PRIu64 ", \"relogin_failures\": %" PRIu64 "},\n", r->msgs_sent,
			r->fl.delivered, r->fl.offline, r->fl.bounced, r->fl.duplicates,
			r->fl.missing, r->dropped, r->fl.relogins, r->fl.relogin_failures);
	json_hist(f, "message_latency", &r->msg_lat);
	json_steps(f, r);
}

static void json_idle(FILE *f, const struct bench_run *r)
{
	fprintf(f, "  \"idle\": {\"held_s\": %.3f, \"rss_before_kib\": %ld, "
		"\"rss_at_n_kib\": %ld, \"kib_per_conn\": %.3f},\n", r->hold_s,
		r->rss_before_kib, r->rss_at_n_kib, report_kib_per_conn(r));
	fprintf(f, "  \"ping\": {\"sent\": %" PRIu64 ", \"answered\": %" PRIu64
		", \"errors\": %" PRIu64 "},\n", r->pings_sent, r->pongs, r->ping_errors);
	json_hist(f, "ping_latency", &r->ping_lat);
}

static void json_series(FILE *f, const struct bench_run *r)
{
	fputs("  \"series\": [", f);
	for (size_t i = 0; i < r->nseries; i++) {
		const struct bench_sample *s = &r->series[i];
		fprintf(f, "%s\n    {\"t_s\": %.3f, \"online\": %u, \"failed\": %u, \"sent\": %"
			PRIu64 ", \"delivered\": %" PRIu64 ", \"p50_ms\": %.6f, \"p99_ms\": %.6f, "
			"\"server_cpu_s\": %.3f, \"bench_cpu_s\": %.3f, \"server_rss_kib\": %ld}",
			i ? "," : "", s->t_s, s->online, s->failed, s->sent, s->delivered,
			(double)s->p50_ns / 1e6, (double)s->p99_ns / 1e6, s->server_cpu_s,
			s->self_cpu_s, s->server_rss_kib);
	}
	fputs("],\n", f);
}

int report_errors(const struct bench_run *r)
{
	/* --faults: sessions are meant to drop, and the accounting replaces
	 * the delivered count (a message stored offline is not lost) */
	if (r->opt.faults)
		return r->failed + (r->online < r->opt.n) + (r->fl.missing > 0) +
		       (r->msgs_bad > 0) + r->aborted ? 1 : 0;
	return r->failed + r->dropped + (r->online < r->opt.n) + (lost(r) > 0) +
	       (r->msgs_bad > 0) + r->aborted + (r->ping_errors > 0) +
	       (r->pongs < r->pings_sent) + (r->pub_errors > 0) ? 1 : 0;
}

int report_json(const struct bench_run *r, const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		log_error("%s: %s", path, strerror(errno));
		return -errno;
	}
	fputs("{\n", f);
	json_settings(f, &r->opt);
	json_login(f, r);
	json_cpu(f, r);
	if (r->opt.scenario == BENCH_IDLE)
		json_idle(f, r);
	if (traffic(r))
		json_traffic(f, r);
	json_series(f, r);
	fprintf(f, "  \"errors\": %u,\n  \"ok\": %s\n}\n", r->failed + r->dropped,
		report_errors(r) ? "false" : "true");
	if (fclose(f)) {
		log_error("%s: %s", path, strerror(errno));
		return -EIO;
	}
	return 0;
}
