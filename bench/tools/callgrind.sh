#!/usr/bin/env bash
# callgrind.sh BIN OUT login N | chat PAIRS SECONDS: the instructions
# starling-cm and starling-core execute for a fixed piece of work, counted by
# callgrind (docs/performance.md).  One cm worker, STARTTLS only, a scratch
# database; the load is bin/starling-bench, slow enough for valgrind:
#   login N          N SCRAM-SHA-256 logins (TLS, SASL, bind, roster,
#                    presence), 5 at a time
#   chat P S         P pairs log in, then each sender sends 20 msgs/s for S s
# Writes OUT.cm and OUT.core (callgrind files) and OUT.txt (the bench's
# report) and prints the instructions per login or per delivered message.
# Subtract a `login 2P` run from a `chat P S` run for the messages alone.
# BENCH_ARGS: more starling-bench options for the load (e.g. --sasl2).
# Binds 127.0.0.1 on a free port; servers are stopped by PID.
set -euo pipefail
BIN=$(cd "${1:?usage: callgrind.sh BIN OUT login N | chat PAIRS SECONDS}" && pwd)
OUT=$(realpath -m "${2:?}")
WHAT=${3:?}
cd "$(dirname "$0")/../.."
ROOT=$PWD
D=$(mktemp -d /tmp/starling-cg.XXXXXX)
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
case $WHAT in
login) USERS=${4:?}; ;;
chat) PAIRS=${4:?} SECS=${5:?}; USERS=$((2 * PAIRS)) ;;
*) echo "callgrind.sh: login or chat" >&2; exit 2 ;;
esac
. bench/starling.sh
starling_conf "$D" "$PORT" "workers = 1" "read_rate = 0"
bin/starling-bench provision --server starling -c "$D/starling.conf" -n "$USERS" --user user%d \
	--password benchpw --contacts 0 >/dev/null
PIDS=()
cleanup() {
	starling_stop_all
	rm -rf "$D"
}
trap cleanup EXIT
valgrind --tool=callgrind --callgrind-out-file="$OUT.core" "$BIN/starling-core" -c "$D/starling.conf" 2>/dev/null &
PIDS+=($!)
while [ ! -S "$D/core.sock" ]; do sleep 0.2; done
valgrind --tool=callgrind --callgrind-out-file="$OUT.cm" "$BIN/starling-cm" -c "$D/starling.conf" 2>/dev/null &
PIDS=($! "${PIDS[@]}") # the cm stops first
until (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do sleep 0.5; done
common=(--port "$PORT" --user user%d --password benchpw -n "$USERS" --timeout 120)
if [ "$WHAT" = login ]; then
	bin/starling-bench login "${common[@]}" --rate 100000 --concurrency 5 ${BENCH_ARGS:-} \
		>"$OUT.txt" 2>&1 || true
	n=$USERS unit=login
else
	bin/starling-bench chat "${common[@]}" --login-rate 20 --concurrency 5 --rate 20 \
		--duration "$SECS" --p99-bound 100000 >"$OUT.txt" 2>&1 || true
	n=$(awk '/^deliveries/ { for (i = 1; i <= NF; i++) if ($i == "delivered") print $(i + 1) }' "$OUT.txt")
	unit=message
fi
cleanup
PIDS=()
ir() { awk '/^summary:|^totals:/ { print $2; exit }' "$1"; }
cm=$(ir "$OUT.cm") core=$(ir "$OUT.core")
echo "$WHAT: $n ${unit}s; instructions: cm $cm, core $core; per $unit: cm $((cm / n)), core $((core / n))"
