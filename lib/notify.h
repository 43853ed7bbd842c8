/* notify: the systemd service-manager protocol (sd_notify(3)) for
 * Type=notify units: READY=1, STOPPING=1, STATUS= and the watchdog.
 * Every call is a no-op when NOTIFY_SOCKET is unset (not under systemd).
 * Linked into starling-core and starling-cm only (libsystemd). */
#ifndef STARLING_NOTIFY_H
#define STARLING_NOTIFY_H
#include <stdint.h>

/* Start-up is complete; status is shown by `systemctl status`. */
void notify_ready(const char *status);
void notify_stopping(void);
void notify_status(const char *status);
/* How often to send WATCHDOG=1, in milliseconds: half the unit's
 * WatchdogSec, or 0 when no watchdog is set for this process. */
unsigned notify_watchdog_interval_ms(void);
void notify_watchdog(void);

#endif
