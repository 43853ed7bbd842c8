/* sample: CPU time and memory of the server processes (given by --pids) and
 * of the bench itself, read from /proc.  On a 2-core box the client shares the
 * CPU with the server, so CPU per unit of work is the fairest comparison. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "lib/log.h"
#include "bench.h"

/* /proc/PID/name for reading; NULL (logged) when the process is gone. */
static FILE *proc_file(int pid, const char *name)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/%s", pid, name);
	FILE *f = fopen(path, "r");
	if (!f)
		log_error("%s: %s", path, strerror(errno));
	return f;
}

long sample_rss_kib(int pid)
{
	char line[256];
	FILE *f = proc_file(pid, "status");
	if (!f)
		return -1;
	long kib = -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* proc(5): utime and stime are fields 14 and 15 of /proc/PID/stat, counted
 * after the command name, which is in parentheses and may hold spaces. */
double sample_cpu_s(int pid)
{
	char line[1024];
	FILE *f = proc_file(pid, "stat");
	if (!f)
		return -1;
	char *got = fgets(line, sizeof line, f);
	fclose(f);
	char *p = got ? strrchr(line, ')') : NULL;
	unsigned long ut, st;
	/* after ')': state(3) ppid pgrp session tty tpgid flags minflt cminflt
	 * majflt cmajflt utime(14) stime(15) */
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
			 &ut, &st) != 2)
		return -1;
	long hz = sysconf(_SC_CLK_TCK);
	return (double)(ut + st) / (double)(hz > 0 ? hz : 100);
}

static long self_rss_kib(void)
{
	return sample_rss_kib(getpid());
}

void sample_usage(const struct bench_opts *o, struct bench_usage *u)
{
	memset(u, 0, sizeof *u);
	u->t = bench_now();
	u->server_rss_kib = o->npids ? 0 : -1;
	u->server_cpu_total_s = o->npids ? 0 : -1;
	for (unsigned i = 0; i < o->npids; i++) {
		double c = sample_cpu_s(o->pids[i]);
		long k = sample_rss_kib(o->pids[i]);
		u->server_cpu_s[i] = c;
		if (c < 0 || u->server_cpu_total_s < 0)
			u->server_cpu_total_s = -1;
		else
			u->server_cpu_total_s += c;
		if (k < 0 || u->server_rss_kib < 0)
			u->server_rss_kib = -1;
		else
			u->server_rss_kib += k;
	}
	struct rusage ru;
	if (!getrusage(RUSAGE_SELF, &ru))
		u->self_cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
				((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
	u->self_rss_kib = self_rss_kib();
}

/* Server CPU seconds from a to b: of process i (0 .. npids-1), or of all of
 * them (i < 0); -1 when either reading failed. */
double sample_cpu_delta(const struct bench_usage *a, const struct bench_usage *b, int i)
{
	double x = i < 0 ? a->server_cpu_total_s : a->server_cpu_s[i];
	double y = i < 0 ? b->server_cpu_total_s : b->server_cpu_s[i];
	return x >= 0 && y >= 0 ? y - x : -1;
}
