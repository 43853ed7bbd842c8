#!/bin/sh
# run.sh: start a development Starling from the repository root (`make run`):
# a self-signed certificate in var/, starling-core, then starling-cm once the
# core's link socket exists.  Ctrl-C (or TERM) stops both, cm first so that
# no client is accepted without a core behind it.  If either program exits
# on its own, the other is stopped and the script exits non-zero.
#
# Overrides (for tests or other layouts): STARLING_CORE, STARLING_CM,
# STARLING_CTL (binaries), STARLING_CONF, STARLING_SOCK (must match the
# config's [link] address).
core=${STARLING_CORE:-bin/starling-core}
cm=${STARLING_CM:-bin/starling-cm}
ctl=${STARLING_CTL:-bin/starlingctl}
conf=${STARLING_CONF:-etc/starling.conf}
sock=${STARLING_SOCK:-var/core.sock}
core_pid=
cm_pid=

say() { echo "run.sh: $*" >&2; }

for b in "$core" "$cm"; do
	[ -x "$b" ] || { say "$b not found or not executable; build first (make)"; exit 1; }
done
[ -r "$conf" ] || { say "cannot read $conf"; exit 1; }
mkdir -p var || exit 1
sh scripts/mkcert.sh var localhost || exit 1

# Running, and not a zombie (a dead child stays visible to kill -0 until the
# shell reaps it, which dash does only in `wait`).
alive() {
	[ -n "$1" ] || return 1
	state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
	[ -n "$state" ] && [ "$state" != Z ]
}

# TERM, then KILL after 5 s; reaps the child.
stop() {
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2>/dev/null
	i=0
	while alive "$1" && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if alive "$1"; then
		say "pid $1 ignored TERM for 5 s; killing it"
		kill -KILL "$1" 2>/dev/null
	fi
	wait "$1" 2>/dev/null
}

stop_all() {
	trap '' INT TERM
	stop "$cm_pid"
	stop "$core_pid"
	cm_pid=
	core_pid=
}

trap 'say "stopping"; stop_all; exit 0' INT TERM
trap 'stop_all' EXIT

# A socket left by an earlier run would look like a ready core.
[ -S "$sock" ] && rm -f "$sock"
"$core" -c "$conf" &
core_pid=$!

i=0
while [ ! -S "$sock" ]; do
	if ! alive "$core_pid"; then
		wait "$core_pid"
		say "starling-core exited with status $? before creating $sock"
		core_pid=
		exit 1
	fi
	if [ $i -ge 100 ]; then
		say "starling-core (pid $core_pid) did not create $sock within 10 s; giving up"
		exit 1
	fi
	sleep 0.1
	i=$((i + 1))
done

"$cm" -c "$conf" &
cm_pid=$!

cat <<EOF

  Starling is running for domain localhost (core pid $core_pid, cm pid $cm_pid).
  Stop it with Ctrl-C.

  Add a user:
    $ctl -c $conf adduser alice@localhost secret

  Connect any XMPP client to localhost port 5222 (STARTTLS; direct TLS on
  5223) and accept the self-signed certificate, e.g.
    profanity:  /connect alice@localhost server 127.0.0.1 port 5222 tls trust
    Gajim:      add account alice@localhost, "Advanced": host 127.0.0.1, port 5222

EOF

while alive "$core_pid" && alive "$cm_pid"; do
	sleep 0.5
done
if alive "$core_pid"; then
	wait "$cm_pid"
	say "starling-cm exited with status $?; stopping starling-core"
	cm_pid=
else
	wait "$core_pid"
	say "starling-core exited with status $?; stopping starling-cm"
	core_pid=
fi
stop_all
exit 1
