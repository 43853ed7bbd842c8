#!/usr/bin/env bash
# presence_callgrind.sh BIN OUT: the instruction count of a fixed presence run
# (docs/performance.md, "Presence fan-out").  Runs BIN/starling-core and
# BIN/starling-cm under callgrind (one worker, STARTTLS only, a scratch
# database with 100 users x 20 mutual contacts), then 500 presence updates
# from bin/starling-bench; writes OUT.core, OUT.cm (callgrind) and OUT.txt
# (the bench's report).  Port 5422 on 127.0.0.1; servers stopped by PID.
# SCENARIO=pep runs 500 PEP publishes instead (the same users and contacts).
set -euo pipefail
BIN=$(cd "${1:?usage: presence_callgrind.sh BIN OUT}" && pwd)
OUT=$(realpath -m "${2:?usage: presence_callgrind.sh BIN OUT}")
cd "$(dirname "$0")/../.."
D=$(mktemp -d /tmp/starling-cg.XXXXXX)
sh scripts/mkcert.sh "$D" localhost >/dev/null
sed -e 's/^workers = 0/workers = 1/' -e 's/^port = 5222/port = 5422/' -e 's/^tls_port = 5223/tls_port = 0/' \
	-e "s#unix:var/core.sock#unix:$D/core.sock#" -e "s#var/starling.db#$D/db#" \
	-e "s#var/cert.pem#$D/cert.pem#" -e "s#var/key.pem#$D/key.pem#" etc/starling.conf >"$D/c.conf"
bin/starling-bench provision --server starling -c "$D/c.conf" -n 100 --user user%d \
	--password benchpw --contacts 20 >/dev/null
valgrind --tool=callgrind --callgrind-out-file="$OUT.core" "$BIN/starling-core" -c "$D/c.conf" 2>/dev/null &
core=$!
while [ ! -S "$D/core.sock" ]; do sleep 0.2; done
valgrind --tool=callgrind --callgrind-out-file="$OUT.cm" "$BIN/starling-cm" -c "$D/c.conf" 2>/dev/null &
cm=$!
sleep 4 # the cm under valgrind takes a while to listen
bin/starling-bench "${SCENARIO:-presence}" --port 5422 --user user%d --password benchpw -n 100 --contacts 20 \
	--login-rate 50 --concurrency 10 --rate 1 --duration 5 --timeout 60 --p99-bound 100000 \
	>"$OUT.txt" 2>&1 || true
kill -TERM "$cm"
wait "$cm" || true
kill -TERM "$core"
wait "$core" || true
rm -rf "$D"
grep -E '^deliveries' "$OUT.txt"
