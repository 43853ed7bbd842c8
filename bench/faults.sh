#!/usr/bin/env bash
# faults.sh: a fault run (issue 13).  Pairs chat through a fresh Starling
# (`starling-bench chat --faults`) while the server is broken on a schedule;
# afterwards every message is accounted for: delivered live, from offline
# storage, or bounced to its sender; missing ones fail the run (exit 1).
#   core  kill -9 of starling-core, started again at once (as scripts/run.sh
#         does): the clients keep their connections to the cm
#   link  the cm's link to the core is stalled for half a second, then cut,
#         with what it held (bench/tools/linkproxy.py relays the link: the
#         kernel here has no sch_netem, so `tc ... netem` is not an option)
#   cm    kill -9 of starling-cm, started again: its clients log in again
# With --cms 2 the senders use one cm and the receivers another, and the
# link and cm faults hit the receivers' cm: what the core had routed into a
# cut link can then only come back through the core's own routing again
# (with one cm, the cm's resend of what the core never acknowledged covers
# it too).
# Writes WORK/chat.txt and chat.json (the bench), faults.log (what was done
# when, seconds from the bench's start), cm.log, core.log, and prints the
# accounting table (bench/tools/faults_report.py).
#
# usage: bench/faults.sh [--pairs P] [--rate R] [--seconds S] [--faults LIST]
#                        [--cms 1|2] [--work DIR]
#   --pairs    chatting pairs (default 20)
#   --rate     messages/s per pair (default 20)
#   --seconds  how long to chat (default 20)
#   --faults   comma-separated, in order, one every S / (K + 2) seconds
#              (K faults, at least 1 s apart) after the first second, so
#              the last comes well before the end (default core,link; a
#              fault may repeat)
#   --cms      1 (default) or 2 cms in front of the core (see above)
#   --work     where the files go (default var/faults/<UTC time>)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=${STARLING_BIN:-$ROOT/bin}
PAIRS=20 RATE=20 SECS=20 FAULTS=core,link CMS=1 WORK=
while [ $# -gt 0 ]; do
	case $1 in
	--pairs) PAIRS=$2; shift 2 ;;
	--rate) RATE=$2; shift 2 ;;
	--seconds) SECS=$2; shift 2 ;;
	--faults) FAULTS=$2; shift 2 ;;
	--cms) CMS=$2; shift 2 ;;
	--work) WORK=$2; shift 2 ;;
	*) echo "faults.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
IFS=, read -r -a LIST <<< "$FAULTS"
case $CMS in 1|2) ;; *) echo "faults.sh: --cms is 1 or 2" >&2; exit 2 ;; esac
for f in "${LIST[@]}"; do
	case $f in core|link|cm) ;; *) echo "faults.sh: unknown fault '$f'" >&2; exit 2 ;; esac
done
N=$((2 * PAIRS))
. bench/starling.sh
starling_run faults
if [[ ",$FAULTS," == *,link,* ]]; then
	rm -f "$WORK/link.sock"
	/usr/bin/python3 bench/tools/linkproxy.py "$WORK/link.sock" "$WORK/core.sock" &
	PROXY_PID=$!
	PIDS+=("$PROXY_PID")
	for _ in $(seq 1 50); do [ -S "$WORK/link.sock" ] && break; sleep 0.1; done
	CM_LINK=unix:$WORK/link.sock
fi
if [ "$CMS" = 2 ]; then
	link=${CM_LINK:-}
	CM_LINK=
	starling_start "$WORK" "$N" faultpw
	ports=$PORT
	starling_free_port
	CM_LINK=$link
	starling_cm "$WORK" # the receivers': the one the faults hit
	ports=$ports,$PORT
else
	starling_start "$WORK" "$N" faultpw
	ports=$PORT
fi

# The logins take well under a second at this size.  The faults are spaced
# over the chat that follows, the last one well before its end: the
# sessions it takes down come back and chat on, and a slow restart does not
# push it past the run (a fault after the bench's end is not made).
"$BIN/starling-bench" chat --faults -n "$N" --rate "$RATE" --duration "$SECS" --port "$ports" \
	--user 'user%d' --password faultpw --login-rate 1000 --concurrency 100 --p99-bound 1000 \
	--timeout 30 --json "$WORK/chat.json" > "$WORK/chat.txt" 2>&1 &
bench=$!
start=$(date +%s.%N)
since() { /usr/bin/python3 -c "import sys; print('%.1f' % (float(sys.argv[1]) - float(sys.argv[2])))" "$(date +%s.%N)" "$start"; }
gap=$(/usr/bin/python3 -c "print(max(1.0, $SECS / (${#LIST[@]} + 2)))")
: > "$WORK/faults.log"
sleep 1
for f in "${LIST[@]}"; do
	sleep "$gap"
	kill -0 "$bench" 2>/dev/null || break
	t=$(since)
	case $f in
	core) starling_kill_core "$WORK" ;;
	link) kill -USR2 "$PROXY_PID"; sleep 0.5; kill -USR1 "$PROXY_PID" ;;
	cm) starling_kill_cm "$WORK" ;;
	esac
	echo "$t $f" | tee -a "$WORK/faults.log" >&2
done
rc=0
wait "$bench" || rc=$?
/usr/bin/python3 bench/tools/faults_report.py "$WORK"
[ "$rc" -eq 0 ] || echo "faults.sh: starling-bench exited with $rc ($WORK/chat.txt)" >&2
exit "$rc"
