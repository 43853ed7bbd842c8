#!/bin/bash
# metrics_cost.sh: what 1 scrape/s of /metrics costs under load.  One fresh
# Starling (release build), `starling-bench chat` at a fixed rate, rounds
# alternating without and with a scraper that GETs both /metrics pages once
# a second; prints the server's CPU per delivered message for each round
# (docs/performance.md, "The cost of /metrics").
#   bench/metrics_cost.sh [ROUNDS (3)] [RATE per sender (200)] [SECONDS (20)]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BIN=${STARLING_BIN:-$ROOT/bin}
ROUNDS=${1:-3} RATE=${2:-200} SECS=${3:-20} N=100
WORK=$(mktemp -d /tmp/starling-metrics-cost.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT
port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(port) CMM=$(port) COREM=$(port)
sh scripts/mkcert.sh "$WORK" localhost >/dev/null
cat > "$WORK/starling.conf" <<CONF
[server]
domain = localhost
log_level = warn
[c2s]
address = 127.0.0.1
port = $PORT
tls_port = 0
workers = 2
read_rate = 0
metrics = 127.0.0.1:$CMM
[tls]
certificate = $WORK/cert.pem
key = $WORK/key.pem
[link]
address = unix:$WORK/core.sock
[core]
database = $WORK/starling.db
metrics = 127.0.0.1:$COREM
CONF
"$BIN/starling-bench" provision --server starling -c "$WORK/starling.conf" -n $N \
	--user 'user%d' --password benchpw --contacts 0 >&2
"$BIN/starling-core" -c "$WORK/starling.conf" > "$WORK/core.log" 2>&1 & PIDS+=($!)
CORE=$!
for _ in $(seq 1 100); do [ -S "$WORK/core.sock" ] && break; sleep 0.1; done
"$BIN/starling-cm" -c "$WORK/starling.conf" > "$WORK/cm.log" 2>&1 & PIDS+=($!)
CM=$!
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done

scraper() { # one GET of each page a second, until killed
	exec /usr/bin/python3 - "$CMM" "$COREM" <<'PY'
import socket, sys, time
while True:
    for p in sys.argv[1:]:
        with socket.create_connection(('127.0.0.1', int(p))) as s:
            s.sendall(b'GET /metrics HTTP/1.1\r\n\r\n')
            while s.recv(65536):
                pass
    time.sleep(1)
PY
}

chat() { # prints server us per delivered message for one round
	"$BIN/starling-bench" chat -n $N --port "$PORT" --user 'user%d' --password benchpw \
		--login-rate 1000 --rate "$RATE" --duration "$SECS" --pids "$CM,$CORE" \
		--json "$WORK/round.json" > /dev/null 2>> "$WORK/bench.log"
	/usr/bin/python3 -c 'import json,sys; print("%.2f" % json.load(open(sys.argv[1]))["server_cpu"]["us_per_delivery"])' "$WORK/round.json"
}

echo "chat -n $N --rate $RATE --duration $SECS, server us/message (cm + core):"
for r in $(seq 1 "$ROUNDS"); do
	without=$(chat)
	scraper & S=$!
	with=$(chat)
	kill $S; wait $S 2>/dev/null || true
	echo "round $r: without scraper $without, with 1 scrape/s $with"
done
# The cost of one scrape by itself (idle server, 100 sessions logged out):
# the processes' CPU over 2000 back-to-back scrapes of each page.
/usr/bin/python3 - "$CMM" "$COREM" "$CM" "$CORE" <<'PY'
import os, socket, sys
def cpu(pid):
    f = open('/proc/%s/stat' % pid).read().rsplit(')', 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf('SC_CLK_TCK')
def get(port):
    with socket.create_connection(('127.0.0.1', port)) as s:
        s.sendall(b'GET /metrics HTTP/1.0\r\n\r\n')
        n = 0
        while True:
            c = s.recv(65536)
            if not c:
                return n
            n += len(c)
for name, port, pid in (('cm', int(sys.argv[1]), sys.argv[3]), ('core', int(sys.argv[2]), sys.argv[4])):
    before = cpu(pid)
    for _ in range(2000):
        size = get(port)
    print('%s: %.1f us CPU per scrape (%d-byte page)' % (name, (cpu(pid) - before) / 2000 * 1e6, size))
PY
# The scrapes did happen: the cm's own count of them.
/usr/bin/python3 - "$CMM" <<'PY'
import socket, sys
with socket.create_connection(('127.0.0.1', int(sys.argv[1]))) as s:
    s.sendall(b'GET /metrics HTTP/1.0\r\n\r\n')
    data = b''
    while True:
        c = s.recv(65536)
        if not c:
            break
        data += c
for line in data.decode().split('\n'):
    if line.startswith('starling_metrics_requests_total '):
        print('scrapes answered by the cm:', line.split()[1])
PY
