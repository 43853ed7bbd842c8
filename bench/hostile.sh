#!/bin/bash
# bench/hostile.sh [N] [SECONDS] [KINDS]: memory and chat under attack (issue 9,
# docs/performance.md "Under attack").  Starts a fresh Starling in a
# temporary directory (max_stanza_size 10000, auth_timeout 10, read_rate
# 64 KiB/s with a 64 KiB burst, one worker), then at once:
#   starling-hostile -n N (default 10000): tag, attr, nest, utf8 and slow
#     connections (or KINDS, e.g. hold), the cm's RSS before, at its peak
#     and after (JSON);
#   starling-bench chat -n 2 for SECONDS (default 30) at 20 messages/s: one
#     chatting pair, its delivery latency while the attack runs.
# Prints both reports.  Uses bin/ (make first); needs `ulimit -Hn` > N + 100.
set -euo pipefail
N=${1:-10000}
SECS=${2:-30}
KINDS=${3:-tag,attr,nest,utf8,slow}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${STARLING_BIN:-$ROOT/bin}
WORK=$(mktemp -d /tmp/starling-hostile.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sh "$ROOT/scripts/mkcert.sh" "$WORK" localhost >/dev/null
cat > "$WORK/starling.conf" <<CONF
[server]
domain = localhost
log_level = warn
[c2s]
address = 127.0.0.1
port = $port
tls_port = 0
workers = 1
max_stanza_size = 10000
auth_timeout = 10
read_rate = 65536
read_burst = 65536
metrics = off
[tls]
certificate = $WORK/cert.pem
key = $WORK/key.pem
[link]
address = unix:$WORK/core.sock
[core]
database = $WORK/starling.db
metrics = off
CONF
"$BIN/starling-bench" provision --server starling -c "$WORK/starling.conf" -n 2 \
	--user 'user%d' --password benchpw --contacts 0 >&2
"$BIN/starling-core" -c "$WORK/starling.conf" > "$WORK/core.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do [ -S "$WORK/core.sock" ] && break; sleep 0.1; done
"$BIN/starling-cm" -c "$WORK/starling.conf" > "$WORK/cm.log" 2>&1 &
cm=$!
PIDS+=($cm)
for _ in $(seq 1 100); do
	python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null && break
	sleep 0.1
done
"$BIN/starling-bench" chat -n 2 --port "$port" --user 'user%d' --password benchpw \
	--rate 20 --duration "$SECS" --json "$WORK/chat.json" > "$WORK/chat.txt" 2>&1 &
chat=$!
sleep 2 # the pair logs in first
"$BIN/starling-hostile" -p "$port" --pid "$cm" -n "$N" --rate 2000 --trickle-ms 1000 \
	--kinds "$KINDS" \
	--timeout 120 > "$WORK/hostile.json" || echo "starling-hostile: connections left open" >&2
wait "$chat" || echo "starling-bench chat failed" >&2
echo "== starling-hostile -n $N --kinds $KINDS"
cat "$WORK/hostile.json"
echo "== starling-bench chat -n 2 --rate 20 --duration $SECS, meanwhile"
cat "$WORK/chat.txt"
echo "(files in $WORK)"
