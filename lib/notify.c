#include "notify.h"

#include <stdio.h>
#include <systemd/sd-daemon.h>

#include "log.h"

/* Failures are logged at debug only: a lost notification is systemd's
 * concern (it times the start out), and outside systemd there is none. */
static void notify_send(const char *msg)
{
	int rc = sd_notify(0, msg);
	if (rc < 0)
		log_debug("sd_notify: %d", rc);
}

void notify_ready(const char *status)
{
	char msg[300];
	snprintf(msg, sizeof msg, "READY=1\nSTATUS=%s", status);
	notify_send(msg);
}

void notify_stopping(void) { notify_send("STOPPING=1\nSTATUS=stopping"); }

void notify_status(const char *status)
{
	char msg[300];
	snprintf(msg, sizeof msg, "STATUS=%s", status);
	notify_send(msg);
}

unsigned notify_watchdog_interval_ms(void)
{
	uint64_t usec = 0;
	if (sd_watchdog_enabled(0, &usec) <= 0 || !usec)
		return 0;
	/* sd_watchdog_enabled(3): ping at half the interval. */
	uint64_t ms = usec / 2000;
	return ms ? (unsigned)(ms > 3600000 ? 3600000 : ms) : 1;
}

void notify_watchdog(void) { notify_send("WATCHDOG=1"); }
