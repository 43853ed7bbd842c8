# bench/starling.sh, sourced by bench/soak.sh and bench/hostile.sh: a fresh
# Starling for one run, bound to 127.0.0.1 on a free port.
#
# starling_start WORK USERS PASSWORD [C2S_LINE...]
#   writes WORK/starling.conf (domain localhost, log level warn, no direct
#   TLS, the given extra [c2s] lines), a certificate, USERS accounts
#   user1..userUSERS with PASSWORD, then starts starling-core and
#   starling-cm (logs in WORK) and waits for the cm's port.  Sets PORT,
#   CORE_PID, CM_PID and appends both PIDs to the caller's PIDS array, for
#   its cleanup to stop by PID.  Needs BIN (the binaries) and ROOT (the
#   repository).  With CM_LINK set (unix:PATH) the cm dials that instead of
#   the core's socket, for a relay on the link (bench/faults.sh).
#
# starling_cm WORK: one more cm in front of the same core, on PORT (set it
#   first, with starling_free_port say) and CM_LINK as above; a cm whose
#   port or link differs from starling.conf's gets WORK/cm-PORT.conf.  Sets
#   CM_PID, appends to PIDS; all cms log to WORK/cm.log.
#
# starling_free_port: PORT = a free TCP port on 127.0.0.1.
#
# starling_kill_core WORK, starling_kill_cm WORK (bench/faults.sh)
#   kill -9 the process and start it again as before (the core as
#   scripts/run.sh does, after removing its old socket); update CORE_PID or
#   CM_PID and PIDS.
#
# starling_conf WORK PORT [C2S_LINE...]
#   only writes WORK/starling.conf (and a certificate) as above, for a
#   caller that starts the servers its own way (under valgrind, say).
#
# starling_stop_all: stops every PID in PIDS and waits for them; callers
#   set PIDS=() and `trap starling_stop_all EXIT` (or call starling_run).
#
# starling_run NAME: a run's work directory and cleanup: WORK (if the
#   caller left it empty: var/NAME/<UTC time>) created and made absolute,
#   PIDS=() and the trap above.
starling_stop_all() {
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}

starling_run() {
	WORK=${WORK:-$ROOT/var/$1/$(date -u +%Y%m%dT%H%M%SZ)}
	mkdir -p "$WORK"
	WORK=$(cd "$WORK" && pwd)
	PIDS=()
	trap starling_stop_all EXIT
}

starling_conf() {
	local work=$1 port=$2
	shift 2
	sh "$ROOT/scripts/mkcert.sh" "$work" localhost >/dev/null
	{
		printf '[server]\ndomain = localhost\nlog_level = warn\n'
		# No /metrics: its default ports would collide between runs.
		printf '[c2s]\naddress = 127.0.0.1\nport = %s\ntls_port = 0\nmetrics = off\n' "$port"
		for line in "$@"; do printf '%s\n' "$line"; done
		printf '[tls]\ncertificate = %s/cert.pem\nkey = %s/key.pem\n' "$work" "$work"
		printf '[link]\naddress = unix:%s/core.sock\n' "$work"
		printf '[core]\ndatabase = %s/starling.db\nmetrics = off\n' "$work"
	} > "$work/starling.conf"
}

# Starts starling-core and waits for its link socket.
starling_core() {
	local work=$1
	rm -f "$work/core.sock" # an old socket would look like a ready core
	"$BIN/starling-core" -c "$work/starling.conf" >> "$work/core.log" 2>&1 &
	CORE_PID=$!
	PIDS+=("$CORE_PID")
	for _ in $(seq 1 100); do [ -S "$work/core.sock" ] && return 0; sleep 0.1; done
	echo "starling_core: no $work/core.sock: $(tail -3 "$work/core.log")" >&2
	return 1
}

starling_free_port() {
	PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
}

starling_cm() {
	local work=$1 conf=$1/starling.conf
	if [ -n "${CM_LINK:-}" ] || [ "$PORT" != "$CONF_PORT" ]; then
		conf=$work/cm-$PORT.conf
		sed -e "s|^port = $CONF_PORT\$|port = $PORT|" \
			-e "s|^address = unix:$work/core.sock\$|address = ${CM_LINK:-unix:$work/core.sock}|" \
			"$work/starling.conf" > "$conf"
	fi
	"$BIN/starling-cm" -c "$conf" >> "$work/cm.log" 2>&1 &
	CM_PID=$!
	PIDS+=("$CM_PID")
	for _ in $(seq 1 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "starling_cm: the cm did not open port $PORT: $(tail -3 "$work/cm.log")" >&2
	return 1
}

starling_start() {
	local work=$1 users=$2 password=$3
	shift 3
	starling_free_port
	CONF_PORT=$PORT
	# A fresh server: a database left in a reused WORK would hand the new
	# run's receivers the old run's offline messages.
	rm -f "$work/starling.db" "$work/starling.db-wal" "$work/starling.db-shm"
	starling_conf "$work" "$PORT" "$@"
	"$BIN/starling-bench" provision --server starling -c "$work/starling.conf" -n "$users" \
		--user 'user%d' --password "$password" --contacts 0 >&2
	: > "$work/core.log"
	: > "$work/cm.log"
	starling_core "$work" && starling_cm "$work"
}

# kill -9 of PID, reaped and taken out of PIDS (its number may be reused).
starling_kill() {
	local p keep=()
	kill -KILL "$1"
	wait "$1" 2>/dev/null || true
	for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	PIDS=("${keep[@]}")
}

starling_kill_core() {
	starling_kill "$CORE_PID"
	starling_core "$1"
}

starling_kill_cm() {
	starling_kill "$CM_PID"
	starling_cm "$1"
}
