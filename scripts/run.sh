#!/bin/sh
# run.sh: start a development Starling from the repository root (`make run`):
# a self-signed certificate in var/, starling-core, then starling-cm once the
# core's link socket exists.  Ctrl-C (or TERM) stops both, cm first so that
# no client is accepted without a core behind it.  A core that exits on its
# own is started again (the cms keep their clients and reconnect); a cm that
# exits stops everything and the script exits non-zero.
#
# Overrides (for tests or other layouts): STARLING_CORE, STARLING_CM,
# STARLING_CTL (binaries), STARLING_CONF, STARLING_SOCK (must match the
# config's [link] address), STARLING_CMS (`make run CMS=N`: N cms in front
# of the one core, the i-th (from 0) with its [c2s] ports and metrics port
# moved up by 10 x i, from var/cm-i.conf written here).
core=${STARLING_CORE:-bin/starling-core}
cm=${STARLING_CM:-bin/starling-cm}
ctl=${STARLING_CTL:-bin/starlingctl}
conf=${STARLING_CONF:-etc/starling.conf}
sock=${STARLING_SOCK:-var/core.sock}
cms=${STARLING_CMS:-1}
core_pid=
cm_pids=

say() { echo "run.sh: $*" >&2; }

for b in "$core" "$cm"; do
	[ -x "$b" ] || { say "$b not found or not executable; build first (make)"; exit 1; }
done
[ -r "$conf" ] || { say "cannot read $conf"; exit 1; }
case $cms in
''|*[!0-9]*|0) say "STARLING_CMS must be a number of cms, 1 or more (got '$cms')"; exit 1 ;;
esac
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
	for p in $cm_pids; do stop "$p"; done
	stop "$core_pid"
	cm_pids=
	core_pid=
}

# The configuration of cm number $1 (from 0): the first uses $conf itself;
# the others get their own ports, 10 apart, in var/cm-$1.conf.
cm_conf() {
	if [ "$1" -eq 0 ]; then
		echo "$conf"
		return
	fi
	awk -v d=$((10 * $1)) '
		/^\[/ { c2s = ($0 == "[c2s]") }
		c2s && /^(port|tls_port)[ \t]*=[ \t]*[1-9][0-9]*[ \t]*$/ {
			split($0, kv, "="); gsub(/[ \t]/, "", kv[1]); gsub(/[ \t]/, "", kv[2])
			print kv[1] " = " kv[2] + d; next }
		c2s && /^metrics[ \t]*=.*:[0-9]+[ \t]*$/ {
			n = match($0, /:[0-9]+[ \t]*$/); p = substr($0, n + 1) + 0
			print substr($0, 1, n) p + d; next }
		{ print }' "$conf" > "var/cm-$1.conf" && echo "var/cm-$1.conf"
}

# The [c2s] port of a configuration (5222 when not set).
c2s_port() {
	awk '/^\[/ { c2s = ($0 == "[c2s]") }
		c2s && /^port[ \t]*=/ { split($0, kv, "="); gsub(/[ \t]/, "", kv[2]); p = kv[2] }
		END { print p ? p : 5222 }' "$1"
}

trap 'say "stopping"; stop_all; exit 0' INT TERM
trap 'stop_all' EXIT

# Starts starling-core and waits for its link socket; 1 when it failed.
start_core() {
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
			return 1
		fi
		if [ $i -ge 100 ]; then
			say "starling-core (pid $core_pid) did not create $sock within 10 s; giving up"
			return 1
		fi
		sleep 0.1
		i=$((i + 1))
	done
}

start_core || exit 1

ports=
i=0
while [ $i -lt "$cms" ]; do
	c=$(cm_conf $i) || { say "cannot write the configuration of cm $i"; exit 1; }
	"$cm" -c "$c" &
	cm_pids="$cm_pids $!"
	ports="$ports $(c2s_port "$c")"
	i=$((i + 1))
done

cat <<EOF

  Starling is running for domain localhost (core pid $core_pid, cm pid(s)$cm_pids;
  STARTTLS port(s)$ports).  Stop it with Ctrl-C.

  Add a user:
    $ctl -c $conf adduser alice@localhost secret

  Connect any XMPP client to localhost port 5222 (STARTTLS; direct TLS on
  5223) and accept the self-signed certificate, e.g.
    profanity:  /connect alice@localhost server 127.0.0.1 port 5222 tls trust
    Gajim:      add account alice@localhost, "Advanced": host 127.0.0.1, port 5222

EOF

# A core that dies is started again (the cms keep their clients and
# reconnect to it), at most 5 times in a minute; a cm that dies stops all.
cms_alive() {
	for p in $cm_pids; do alive "$p" || return 1; done
}
restarts=
while cms_alive; do
	if ! alive "$core_pid"; then
		wait "$core_pid"
		say "starling-core exited with status $?; starting it again"
		now=$(date +%s)
		kept=
		for t in $restarts; do [ $((now - t)) -lt 60 ] && kept="$kept $t"; done
		restarts="$kept $now"
		if [ $(echo $restarts | wc -w) -gt 5 ]; then
			say "starling-core died 6 times within a minute; stopping"
			core_pid=
			break
		fi
		start_core || break
	fi
	sleep 0.5
done
for p in $cm_pids; do
	alive "$p" && continue
	wait "$p"
	say "starling-cm (pid $p) exited with status $?; stopping the others"
done
stop_all
exit 1
