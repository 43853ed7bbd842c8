#!/usr/bin/env bash
# suite.sh: the standard benchmark runs.  `make bench` runs the scenarios
# against a fresh Starling and writes the result table into
# docs/performance.md; `make bench-compare` runs each scenario through
# `starling-bench compare` against Starling, Prosody and ejabberd (each
# started fresh for every scenario, bench/peers/) and writes the side-by-side
# tables; the fixed-rate chat-5k runs go against each server alone instead.
# After `make bench`, bench/guard.py compares the headline figures with the
# previous run's (bench/baseline.json) and records them.  Everything binds to 127.0.0.1 on free ports; servers are stopped by
# PID.  Work files (configs, databases, JSON, plots, logs) go to var/bench/.
#
# usage: bench/suite.sh [--servers starling[,prosody][,ejabberd]] [--quick]
#                       [--out FILE] [--only SCENARIO[,SCENARIO]] [--work DIR]
#                       [--workers N] [--baseline FILE]
#   --quick   tiny sizes, for a smoke test of the suite itself
#   --out     markdown file whose marked section gets the results
#             (default docs/performance.md)
#   --work    where the work files go (default var/bench/<UTC time>)
#   --workers Starling's [c2s] workers (default 0: one per online CPU)
#   --baseline the regression guard's figures (bench/guard.py; default
#             bench/baseline.json, with --quick WORK/baseline.json so tiny
#             runs never replace real figures)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=${STARLING_BIN:-$ROOT/bin}
SERVERS=starling
QUICK=0
OUT=docs/performance.md
ONLY=
WORK=
WORKERS=0
BASELINE=
while [ $# -gt 0 ]; do
	case $1 in
	--servers) SERVERS=$2; shift 2 ;;
	--quick) QUICK=1; shift ;;
	--out) OUT=$2; shift 2 ;;
	--only) ONLY=$2; shift 2 ;;
	--work) WORK=$2; shift 2 ;;
	--workers) WORKERS=$2; shift 2 ;;
	--baseline) BASELINE=$2; shift 2 ;;
	*) echo "suite.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done

# Sizes that fit a 2-core machine (issue 3), or tiny ones for --quick.
if [ $QUICK = 1 ]; then
	IDLE_N=20 IDLE_HOLD=1 LOGIN_N=20 LOGIN_C=4 CHAT_BIG=8 CHAT_SMALL=4 CHAT_RATE=10
	PRES_N=8 PRES_K=4 PRES_RATE=1 STEP_S=1 STEP=2 MAX_RATE=40 MAX_PRES=2
	FIX_SMALL=4 FIX_SMALL_RATE=10 FIX_BIG=8 FIX_BIG_RATE=5 FIX_S=1
else
	IDLE_N=10000 IDLE_HOLD=10 LOGIN_N=2000 LOGIN_C=50 CHAT_BIG=1000 CHAT_SMALL=100
	CHAT_RATE=20 PRES_N=500 PRES_K=50 PRES_RATE=0.5 STEP_S=5 STEP=1.5 MAX_RATE=1e6
	MAX_PRES=1e6
	# issue 12's ordinary load: 5,000 msgs/s over 50 pairs, then over 500
	FIX_SMALL=100 FIX_SMALL_RATE=100 FIX_BIG=1000 FIX_BIG_RATE=10 FIX_S=15
fi
DOMAIN=localhost
PASSWORD=benchpw
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
WORK=${WORK:-$ROOT/var/bench/$STAMP}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
if [ -z "$BASELINE" ]; then
	if [ $QUICK = 1 ]; then BASELINE=$WORK/baseline.json; else BASELINE=bench/baseline.json; fi
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
echo "suite.sh: work files in $WORK" >&2
: > "$WORK/commands.txt"
PIDS_TO_STOP=()

log() { echo "suite.sh: $*" >&2; }

# A free port below the kernel's ephemeral range (32768-60999 here), so an
# outgoing connection cannot take it between this check and the bind.
free_port() {
	/usr/bin/python3 -c '
import random, socket
for _ in range(1000):
    p = random.randint(20000, 32000)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    print(p)
    break'
}

wait_port() { # PORT PID
	for _ in $(seq 1 300); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

stop_pids() { # PID...
	for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "$@"; do
		for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
	done
}

cleanup() {
	[ ${#PIDS_TO_STOP[@]} -eq 0 ] || stop_pids "${PIDS_TO_STOP[@]}"
	for d in "$WORK"/*/; do
		[ -f "$d/peer" ] && bash "bench/peers/$(cat "$d/peer").sh" stop "$d" >/dev/null 2>&1
	done
	true
}
trap cleanup EXIT

run() { # the exact command, logged for the report
	echo "$*" | sed "s|$ROOT/||g" >> "$WORK/commands.txt"
	"$@"
}

# start_starling DIR USERS CONTACTS: a fresh Starling with its accounts;
# sets PORT and PIDS (cm+core).
start_starling() {
	local dir=$1 n=$2 k=$3
	mkdir -p "$dir"
	sh scripts/mkcert.sh "$dir" "$DOMAIN" >/dev/null
	PORT=$(free_port)
	METRICS_PORT=$(free_port) # the cm's /metrics; the core's is off
	echo "$METRICS_PORT" > "$dir/metrics_port"
	cat > "$dir/starling.conf" <<CONF
[server]
domain = $DOMAIN
log_level = warn
[c2s]
address = 127.0.0.1
port = $PORT
tls_port = 0
workers = $WORKERS
; Like the peers (ejabberd shaper: none, Prosody without mod_limits): no
; per-connection read rate, so a scenario measures the path, not the shaper.
read_rate = 0
metrics = 127.0.0.1:$METRICS_PORT
[tls]
certificate = $dir/cert.pem
key = $dir/key.pem
[link]
address = unix:$dir/core.sock
[core]
database = $dir/starling.db
metrics = off
CONF
	run "$BIN/starling-bench" provision --server starling -c "$dir/starling.conf" -n "$n" \
		--user 'user%d' --password "$PASSWORD" --contacts "$k" >&2
	"$BIN/starling-core" -c "$dir/starling.conf" > "$dir/core.log" 2>&1 &
	local core=$!
	PIDS_TO_STOP+=("$core")
	for _ in $(seq 1 100); do [ -S "$dir/core.sock" ] && break; sleep 0.1; done
	"$BIN/starling-cm" -c "$dir/starling.conf" > "$dir/cm.log" 2>&1 &
	local cm=$!
	PIDS_TO_STOP+=("$cm")
	wait_port "$PORT" "$cm" || { log "starling-cm did not start: $(tail -3 "$dir/cm.log")"; exit 1; }
	PIDS="$cm+$core"
}

# start_peer NAME DIR USERS CONTACTS: Prosody or ejabberd through bench/peers/.
start_peer() {
	local name=$1 dir=$2 n=$3 k=$4
	mkdir -p "$dir"
	echo "$name" > "$dir/peer"
	sh scripts/mkcert.sh "$dir" "$DOMAIN" >/dev/null
	PORT=$(free_port)
	run bash "bench/peers/$name.sh" provision "$dir" --domain "$DOMAIN" --users 'user%d' \
		--first 1 -n "$n" --password "$PASSWORD" --contacts "$k" >&2
	local out
	out=$(run bash "bench/peers/$name.sh" start "$dir" --domain "$DOMAIN" --port "$PORT" \
		--cert "$dir/cert.pem" --key "$dir/key.pem" | tail -1)
	PIDS=${out//,/+}
}

start_server() { # NAME DIR USERS CONTACTS
	if [ "$1" = starling ]; then start_starling "$2" "$3" "$4"; else start_peer "$@"; fi
}

stop_server() { # NAME DIR
	if [ "$1" = starling ]; then
		stop_pids ${PIDS//+/ }
	else
		bash "bench/peers/$1.sh" stop "$2" >&2 || true
		rm -f "$2/peer"
	fi
}

# alone NAME SERVER USERS CONTACTS SCENARIO ARGS...: one run against a fresh
# SERVER, its figures in WORK/NAME.json (and a plot).
alone() {
	local name=$1 srv=$2 n=$3 k=$4 scen=$5
	shift 5
	start_server "$srv" "$WORK/$name" "$n" "$k"
	local rc=0
	run "$BIN/starling-bench" "$scen" --port "$PORT" --pids "${PIDS//+/,}" "${common[@]}" \
		"$@" --json "$WORK/$name.json" > "$WORK/$name.txt" || rc=$?
	stop_server "$srv" "$WORK/$name"
	[ $rc -le 1 ] || { log "$name: starling-bench failed ($rc)"; exit 1; }
	/usr/bin/python3 bench/plot.py "$WORK/$name.json" "$WORK/$name.svg" "$name" ||
		log "$name: no plot"
}

# scenario NAME USERS CONTACTS SCENARIO ARGS...: fresh servers, one run each
# (through compare when there are several), then stop them.
scenario() {
	local name=$1 n=$2 k=$3 scen=$4
	shift 4
	if [ -n "$ONLY" ] && [[ ",$ONLY," != *",$name,"* ]]; then return 0; fi
	log "scenario $name"
	local common=(--user 'user%d' --password "$PASSWORD" --domain "$DOMAIN" --timeout 60)
	if [ "$SERVERS" = starling ]; then
		alone "$name" starling "$n" "$k" "$scen" "$@"
		return 0
	fi
	local targets=() s
	for s in ${SERVERS//,/ }; do
		start_server "$s" "$WORK/$name-$s" "$n" "$k"
		targets+=(--target "$s=127.0.0.1:$PORT:$PIDS")
		eval "PIDS_$s=\$PIDS"
	done
	local rc=0
	run "$BIN/starling-bench" compare "$scen" "${targets[@]}" "${common[@]}" "$@" \
		--table "$WORK/$name.md" --json "$WORK/$name.json" > "$WORK/$name.txt" || rc=$?
	for s in ${SERVERS//,/ }; do
		eval "PIDS=\$PIDS_$s"
		stop_server "$s" "$WORK/$name-$s"
	done
	[ $rc -le 1 ] || { log "$name: compare failed ($rc)"; exit 1; }
}

# fixed NAME USERS SCENARIO ARGS...: like scenario, but with several servers
# each runs alone (WORK/NAME-SERVER.json), since compare keeps only means of
# a few figures and these runs are read for their p50, p99.9 and cm/core split.
fixed() {
	local name=$1 n=$2 scen=$3
	shift 3
	if [ -n "$ONLY" ] && [[ ",$ONLY," != *",$name,"* ]]; then return 0; fi
	log "scenario $name"
	local common=(--user 'user%d' --password "$PASSWORD" --domain "$DOMAIN" --timeout 60)
	if [ "$SERVERS" = starling ]; then
		alone "$name" starling "$n" 0 "$scen" "$@"
		return 0
	fi
	local s
	for s in ${SERVERS//,/ }; do
		alone "$name-$s" "$s" "$n" 0 "$scen" "$@"
	done
}

# Prosody 0.12 and ejabberd 23.01 offer SCRAM-SHA-1 but not SCRAM-SHA-256.
SCRAM=SCRAM-SHA-256
[ "$SERVERS" = starling ] || SCRAM=SCRAM-SHA-1
# --retry 1: a step missed by its p99 alone runs once more (docs/bench.md).
STEPS=(--step "$STEP" --duration "$STEP_S" --p99-bound 5 --retry 1)
# Setting up sessions: at most 100 logins under way, so each server logs
# everyone in at its own pace (an open-loop 1000/s would time out the peers).
SETUP=(--concurrency 100 --mech "$SCRAM")
scenario idle "$IDLE_N" 0 idle -n "$IDLE_N" --rate 1000 --hold "$IDLE_HOLD" "${SETUP[@]}"
scenario login-scram "$LOGIN_N" 0 login -n "$LOGIN_N" --rate 100000 \
	--concurrency "$LOGIN_C" --mech "$SCRAM"
scenario login-plain "$LOGIN_N" 0 login -n "$LOGIN_N" --rate 100000 \
	--concurrency "$LOGIN_C" --mech PLAIN
# SASL2 with Bind 2 (XEP-0388, XEP-0386): Starling's alone, as neither
# Prosody 0.12 nor ejabberd 23.01 speaks it.
[ "$SERVERS" != starling ] || scenario login-sasl2 "$LOGIN_N" 0 login -n "$LOGIN_N" \
	--rate 100000 --concurrency "$LOGIN_C" --mech SCRAM-SHA-256 --sasl2
scenario chat-small "$CHAT_SMALL" 0 chat -n "$CHAT_SMALL" --login-rate 1000 "${SETUP[@]}" \
	--rate "$CHAT_RATE" "${STEPS[@]}" --max-rate "$MAX_RATE"
scenario chat-big "$CHAT_BIG" 0 chat -n "$CHAT_BIG" --login-rate 1000 "${SETUP[@]}" \
	--rate "$CHAT_RATE" "${STEPS[@]}" --max-rate "$MAX_RATE"
scenario presence "$PRES_N" "$PRES_K" presence -n "$PRES_N" --contacts "$PRES_K" \
	--login-rate 1000 "${SETUP[@]}" --rate "$PRES_RATE" --step 2 --duration "$STEP_S" \
	--p99-bound 5 --retry 1 --max-rate "$MAX_PRES"
# An ordinary load, open loop at one fixed rate for one step (no --step): a
# p99 bound no run reaches, so the figures are read, not judged by the bench.
FIXED=(--login-rate 1000 "${SETUP[@]}" --duration "$FIX_S" --p99-bound 1000)
fixed chat-5k-small "$FIX_SMALL" chat -n "$FIX_SMALL" "${FIXED[@]}" --rate "$FIX_SMALL_RATE"
fixed chat-5k-big "$FIX_BIG" chat -n "$FIX_BIG" "${FIXED[@]}" --rate "$FIX_BIG_RATE"

if [ "$SERVERS" = starling ]; then
	# Never fails the run: a regression is shown, the noisy machine judged by a reader.
	/usr/bin/python3 bench/guard.py "$WORK" "$BASELINE" ||
		log "regression guard failed; figures not recorded in $BASELINE"
fi
/usr/bin/python3 bench/results.py "$WORK" "$OUT" --servers "$SERVERS"
log "results written to $OUT"
