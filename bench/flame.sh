#!/usr/bin/env bash
# flame.sh: where starling-cm and starling-core spend their CPU under chat
# load (issue 12).  Starts a fresh Starling, has starling-bench chat against
# it and, once the sessions are up, samples the cm and then the core with
# `perf record -g` (one after the other: two perfs at once would take the
# second of the machine's two cores from the server), and draws each as a
# flame graph with bench/tools/flamegraph.py.
#
# usage: bench/flame.sh [--pairs P] [--rate R] [--seconds S] [--out DIR] [--call-graph MODE]
#   --pairs       chatting pairs (default 50)
#   --rate        messages/s per pair (default 100: 5,000 msgs/s in all)
#   --seconds     how long the bench chats (default 20); after WARMUP s the cm
#                 is recorded for (S - WARMUP - 1) / 2 s, then the core as long
#   --out         where the SVGs, folded stacks, bench output and commands go
#                 (default: the work directory, var/flame/<UTC time>)
#   --call-graph  perf's unwinding: fp (default, `-g`) or dwarf; the binaries
#                 are built without frame pointers, so fp stacks are exact at
#                 the leaf but may lose callers above it
# Paths are relative to the repository root.  The server's files and the
# perf data stay in var/flame/<UTC time>.  Every command run is printed, and
# written to OUT/commands.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=${STARLING_BIN:-$ROOT/bin}
PERF=${PERF:-/usr/bin/perf}
PAIRS=50 RATE=100 SECS=20 OUT= CALLGRAPH=fp
WARMUP=3
while [ $# -gt 0 ]; do
	case $1 in
	--pairs) PAIRS=$2; shift 2 ;;
	--rate) RATE=$2; shift 2 ;;
	--seconds) SECS=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--call-graph) CALLGRAPH=$2; shift 2 ;;
	*) echo "flame.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
case $CALLGRAPH in
fp) CG=(-g) ;;
dwarf) CG=(--call-graph dwarf) ;;
*) echo "flame.sh: --call-graph is fp or dwarf" >&2; exit 2 ;;
esac
REC=$(( (SECS - WARMUP - 1) / 2 ))
if [ "$REC" -lt 1 ]; then
	echo "flame.sh: --seconds must be at least $((WARMUP + 3))" >&2
	exit 2
fi
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
WORK=var/flame/$STAMP
OUT=${OUT:-$WORK}
mkdir -p "$WORK" "$OUT"
WORK=$(cd "$WORK" && pwd)
N=$((2 * PAIRS))
: > "$OUT/commands.txt"

# Prints a command as it can be pasted back into a shell (a literal '>'
# stands for the redirection that follows it), on the caller's stdout even
# while the command's own output is redirected.
exec 3>&1
say() {
	local line
	line=$(printf '%q ' "$@")
	line=${line//\\>/>}
	echo "+ ${line% }" | tee -a "$OUT/commands.txt" >&3
}

. bench/starling.sh
PIDS=()
trap starling_stop_all EXIT
say starling_start "$WORK" "$N" flamepw
starling_start "$WORK" "$N" flamepw
cm=$CM_PID core=$CORE_PID

bench=("$BIN/starling-bench" chat -n "$N" --rate "$RATE" --duration "$SECS" --port "$PORT"
	--user 'user%d' --password flamepw --login-rate 1000 --concurrency 100 --p99-bound 1000
	--pids "$cm,$core" --json "$OUT/chat.json")
say "${bench[@]}"
"${bench[@]}" > "$OUT/chat.txt" 2>&1 &
bpid=$!
PIDS+=("$bpid")
sleep "$WARMUP"

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
msgs=$((PAIRS * RATE))
for which in cm core; do
	pid=$cm
	[ "$which" = core ] && pid=$core
	kill -0 "$bpid" 2>/dev/null || { echo "flame.sh: the bench ended before the $which was recorded: $(tail -3 "$OUT/chat.txt")" >&2; exit 1; }
	rec=("$PERF" record -F 999 "${CG[@]}" -p "$pid" -o "$WORK/$which.perf.data" -- sleep "$REC")
	say "${rec[@]}" '2>' "$WORK/$which.perf.log"
	"${rec[@]}" 2> "$WORK/$which.perf.log"
done
wait "$bpid" || echo "flame.sh: starling-bench exited with $?" >&2
starling_stop_all
PIDS=()

for which in cm core; do
	say "$PERF" script -i "$WORK/$which.perf.data" '>' "$WORK/$which.perf.txt"
	"$PERF" script -i "$WORK/$which.perf.data" > "$WORK/$which.perf.txt" 2> "$WORK/$which.script.log"
	if ! grep -q '^[^[:space:]#]' "$WORK/$which.perf.txt"; then
		echo "flame.sh: perf recorded no samples of starling-$which: $(cat "$WORK/$which.perf.log")" >&2
		exit 1
	fi
	title="starling-$which, $PAIRS pairs x $RATE msgs/s ($msgs msgs/s), perf -F 999 $CALLGRAPH for ${REC} s, $(date -u +%Y-%m-%d), commit $commit"
	say /usr/bin/python3 bench/tools/flamegraph.py --folded "$WORK/$which.perf.txt" '>' "$OUT/flame-$which.folded"
	/usr/bin/python3 bench/tools/flamegraph.py --folded "$WORK/$which.perf.txt" > "$OUT/flame-$which.folded"
	say /usr/bin/python3 bench/tools/flamegraph.py --title "$title" "$WORK/$which.perf.txt" '>' "$OUT/flame-$which.svg"
	/usr/bin/python3 bench/tools/flamegraph.py --title "$title" "$WORK/$which.perf.txt" > "$OUT/flame-$which.svg"
done
echo "flame.sh: $OUT/flame-cm.svg $OUT/flame-core.svg (bench: $OUT/chat.txt)"
