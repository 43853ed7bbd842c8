/* wakecost: what the machine charges for sleeping and for moving one small
 * message over loopback TCP, with no TLS and no XML, as a floor under the
 * CPU per message that starling-bench reports for a server and for itself.
 *
 *   cc -O2 -o wakecost bench/tools/wakecost.c && ./wakecost [RATE] [SECONDS]
 *
 * 1. timer wake-up: CPU time per nanosleep(100 µs), the cost an open-loop
 *    sender pays for every send it sleeps before;
 * 2. relay: a process that blocks in recv() on one socket and send()s what it
 *    got on another (the least a server can do per message: one wake-up for
 *    data, one receive, one send);
 * 3. client: writes 120-byte messages at RATE/s on a clock (ppoll with a
 *    timeout until the next one is due) and reads them back from the relay
 *    (the least a load generator can do per message).
 * CPU is the process's own (getrusage), divided by the messages. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MSG 120

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct rusage u;
	getrusage(RUSAGE_SELF, &u);
	return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
	       (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

static void timer_wakes(void)
{
	const int n = 10000;
	struct timespec ts = { 0, 100000 };
	double c0 = cpu_s();
	for (int i = 0; i < n; i++)
		nanosleep(&ts, NULL);
	printf("timer wake-up    %6.2f us CPU per nanosleep(100 us)\n", (cpu_s() - c0) * 1e6 / n);
}

/* Two connected loopback pairs: fd[0]->fd[2] (to the relay), fd[3]->fd[1] (back). */
static int connect_pairs(int fd[4])
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	int one = 1, ls = socket(AF_INET, SOCK_STREAM, 0);
	if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 2) ||
	    getsockname(ls, (struct sockaddr *)&a, &len))
		return -1;
	for (int i = 0; i < 2; i++) {
		fd[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (fd[i] < 0 || connect(fd[i], (struct sockaddr *)&a, sizeof a) ||
		    (fd[i + 2] = accept(ls, NULL, NULL)) < 0)
			return -1;
	}
	close(ls);
	for (int i = 0; i < 4; i++)
		setsockopt(fd[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return 0;
}

static void relay(int in, int out, double msgs)
{
	char buf[65536];
	ssize_t n;
	while ((n = recv(in, buf, sizeof buf, 0)) > 0)
		if (send(out, buf, (size_t)n, 0) != n)
			break;
	printf("relay            %6.2f us CPU per message\n", cpu_s() * 1e6 / msgs);
}

static long client(int out, int in, double rate, double secs)
{
	char m[MSG], buf[65536];
	memset(m, 'x', sizeof m);
	long sent = 0;
	double t0 = now_s(), c0 = cpu_s();
	for (double t = t0; t < t0 + secs; t = now_s()) {
		double due = t0 + (double)sent / rate;
		for (; due <= t; due = t0 + (double)sent / rate)
			if (send(out, m, sizeof m, 0) == (ssize_t)sizeof m)
				sent++;
		struct pollfd p = { .fd = in, .events = POLLIN };
		struct timespec ts = { 0, (long)((due - t) * 1e9) };
		if (ppoll(&p, 1, &ts, NULL) > 0)
			(void)recv(in, buf, sizeof buf, MSG_DONTWAIT);
	}
	printf("client           %6.2f us CPU per message (%ld at %.0f/s)\n",
	       (cpu_s() - c0) * 1e6 / (double)sent, sent, rate);
	return sent;
}

int main(int argc, char **argv)
{
	double rate = argc > 1 ? atof(argv[1]) : 5000, secs = argc > 2 ? atof(argv[2]) : 5;
	int fd[4];
	if (rate <= 0 || secs <= 0 || connect_pairs(fd)) {
		fprintf(stderr, "usage: wakecost [RATE] [SECONDS] (loopback setup failed?)\n");
		return 2;
	}
	timer_wakes();
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		close(fd[0]);
		close(fd[1]);
		relay(fd[2], fd[3], rate * secs);
		fflush(stdout);
		_exit(0);
	}
	close(fd[2]);
	close(fd[3]);
	client(fd[0], fd[1], rate, secs);
	fflush(stdout);
	shutdown(fd[0], SHUT_WR);
	waitpid(pid, NULL, 0);
	return 0;
}
