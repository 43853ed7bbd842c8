/* control: starlingctl's verbs, served on the core's control socket ([core]
 * control, a Unix socket of mode 0600/0660) and never on the link address,
 * which may be TCP.  The core answers for every process: it knows every
 * session and every cm link, and relays to the cms what they must do
 * themselves (kick, log level, certificate reload).  Frames as on a link
 * (docs/link-protocol.md): HELLO, then ADMIN_REQ / REVOKE / STATS_REQ. */
#ifndef STARLING_CORE_CONTROL_H
#define STARLING_CORE_CONTROL_H

#include "lib/wire.h"

struct core;
struct link;

/* Listens on path (a stale socket there is replaced) with mode 0600, or
 * 0660 when group.  Returns the fd or -errno. */
int control_listen(const char *path, int group);
/* One frame from a control connection (after its HELLO). */
void control_on_frame(struct core *c, struct link *l, const struct wire_frame *f);

#endif
