#!/usr/bin/env bash
# bench_callgrind.sh BENCH OUT PAIRS RATE: the instructions starling-bench
# itself executes per chat message, counted by callgrind against a normal
# (not valgrind) Starling (issue 12: the bench shares the cores with the
# server, so its own cost per message caps what a saturation run can show).
# Two runs of `chat` with PAIRS pairs at RATE msgs/s per pair, of 2 and 6
# seconds, each under callgrind; the logins cost both runs alike, so
# (Ir of the long run - Ir of the short one) / (deliveries of the long run -
# deliveries of the short one) is the bench's cost per message.
# Writes OUT.2 and OUT.6 (callgrind files) and OUT.2.txt, OUT.6.txt (the
# bench's reports).  Binds 127.0.0.1 on a free port; servers stopped by PID.
set -euo pipefail
BENCH=$(realpath "${1:?usage: bench_callgrind.sh BENCH OUT PAIRS RATE}")
OUT=$(realpath -m "${2:?}")
PAIRS=${3:?} RATE=${4:?}
cd "$(dirname "$0")/../.."
ROOT=$PWD
BIN=${STARLING_BIN:-$ROOT/bin}
. bench/starling.sh
WORK=$(mktemp -d /tmp/starling-bcg.XXXXXX)
PIDS=()
cleanup() {
	starling_stop_all
	rm -rf "$WORK"
}
trap cleanup EXIT
starling_start "$WORK" $((2 * PAIRS)) benchpw "read_rate = 0" 2>/dev/null
delivered() { awk '/^deliveries/ { for (i = 1; i <= NF; i++) if ($i == "delivered") print $(i + 1) }' "$1"; }
ir() { awk '/^summary:|^totals:/ { print $2; exit }' "$1"; }
for s in 2 6; do
	valgrind --tool=callgrind --callgrind-out-file="$OUT.$s" "$BENCH" chat --port "$PORT" \
		--user user%d --password benchpw -n $((2 * PAIRS)) --login-rate 50 --concurrency 5 \
		--rate "$RATE" --duration "$s" --p99-bound 100000 --timeout 60 \
		>"$OUT.$s.txt" 2>/dev/null || true
done
n2=$(delivered "$OUT.2.txt") n6=$(delivered "$OUT.6.txt")
i2=$(ir "$OUT.2") i6=$(ir "$OUT.6")
echo "bench: $n2 and $n6 messages, $i2 and $i6 instructions;" \
	"per message $(((i6 - i2) / (n6 - n2)))"
