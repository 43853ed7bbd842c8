#!/usr/bin/env bash
# soak.sh: a long steady chat against a fresh Starling (issue 13): sessions
# stay logged in and chat at a constant rate while the cm's and the core's
# resident memory is sampled; a server that leaks shows a rising line.
# Writes WORK/rss.csv (seconds, cm KiB, core KiB), WORK/rss.svg and
# WORK/summary.md (first/last/peak RSS, the slope of a least-squares line).
# Everything binds to 127.0.0.1 on free ports; servers are stopped by PID.
#
# usage: bench/soak.sh [--seconds S] [--pairs P] [--rate R] [--sample S] [--work DIR]
#   --seconds  how long to chat (default 3600)
#   --pairs    chatting pairs (default 100)
#   --rate     messages/s per pair (default 10: 1,000 msgs/s in all)
#   --sample   seconds between RSS samples (default 10)
#   --work     where the files go (default var/soak/<UTC time>)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=${STARLING_BIN:-$ROOT/bin}
SECONDS_=3600 PAIRS=100 RATE=10 SAMPLE=10 WORK=
while [ $# -gt 0 ]; do
	case $1 in
	--seconds) SECONDS_=$2; shift 2 ;;
	--pairs) PAIRS=$2; shift 2 ;;
	--rate) RATE=$2; shift 2 ;;
	--sample) SAMPLE=$2; shift 2 ;;
	--work) WORK=$2; shift 2 ;;
	*) echo "soak.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
N=$((2 * PAIRS))
. bench/starling.sh
starling_run soak
starling_start "$WORK" "$N" soakpw "read_rate = 0"
port=$PORT cm=$CM_PID core=$CORE_PID

rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
"$BIN/starling-bench" chat -n "$N" --rate "$RATE" --duration "$SECONDS_" --port "$port" \
	--user 'user%d' --password soakpw --login-rate 1000 --concurrency 100 --p99-bound 1000 \
	--pids "$cm,$core" --json "$WORK/chat.json" > "$WORK/chat.txt" 2>&1 &
bench=$!
echo "seconds,cm_kib,core_kib" > "$WORK/rss.csv"
start=$(date +%s)
while kill -0 "$bench" 2>/dev/null; do
	echo "$(($(date +%s) - start)),$(rss "$cm"),$(rss "$core")" >> "$WORK/rss.csv"
	sleep "$SAMPLE"
done
wait "$bench" || echo "soak.sh: starling-bench exited with $?" >&2
/usr/bin/python3 bench/tools/soak_report.py "$WORK" "$PAIRS" "$RATE" > "$WORK/summary.md"
cat "$WORK/summary.md"
