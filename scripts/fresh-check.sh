#!/bin/sh
# fresh-check.sh: prove that a new user's first `make run` works (issue 11).
# As root, it removes the build packages the project installs, copies the work
# tree to a scratch directory and there:
#   1. runs `make all` without them and expects the Makefile to name the
#      missing Debian package instead of failing in the compiler;
#   2. runs `make run` once, which must install the packages, build, and start
#      core + cm until the cm answers an XMPP stream header on port 5222;
#   3. while it runs, does what the README says next (starlingctl adduser,
#      status), then stops it by PID (TERM to make's process group);
#   4. runs `make bench-compare` with the suite's --quick sizes, which must
#      install Prosody and ejabberd (removed too) and bench all three servers.
# Packages that apt removed along with ours (other -dev packages that depend on
# them) are put back at the end, so the machine is left as it was found plus
# the project's own packages.  .ci/run calls it before `make test`.
#
# usage: sh scripts/fresh-check.sh   (from anywhere; needs root and apt)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# What scripts/deps.sh installs for building (pkg-config included: a machine
# without it is the plainest fresh machine).
DEV="pkg-config liburing-dev libssl-dev libxml2-dev libjemalloc-dev libsqlite3-dev libidn-dev libinih-dev libsystemd-dev"
PEERS="prosody ejabberd"
PORT=5222
TIMEOUT=900
PY=/usr/bin/python3

say() { echo "fresh-check: $*" >&2; }
fail() { say "FAILED: $*"; exit 1; }
installed() { dpkg-query -W -f='${Package} ${Status}\n' | awk '$NF == "installed" {print $1}' | sort; }

[ "$(id -u)" -eq 0 ] || fail "needs root (apt-get remove/install)"
export DEBIAN_FRONTEND=noninteractive

# Anything already answering on the port would make the probe below lie.
if [ -x $PY ] && $PY -c "import socket,sys; s=socket.socket(); s.settimeout(1); sys.exit(s.connect_ex(('127.0.0.1',$PORT)) != 0)"; then
	fail "something already listens on 127.0.0.1:$PORT; stop it first"
fi

scratch=$(mktemp -d /tmp/starling-fresh.XXXXXX)
make_pid=
restore=
cleanup() {
	if [ -n "$make_pid" ]; then
		kill -TERM "-$make_pid" 2>/dev/null || true
		wait "$make_pid" 2>/dev/null || true
	fi
	if [ -n "$restore" ]; then
		say "putting back what apt removed with ours:$restore"
		apt-get install -y -q $restore >/dev/null || say "could not reinstall:$restore"
	fi
	rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

before=$(installed)
present=""
for p in $DEV $PEERS; do
	echo "$before" | grep -qx "$p" && present="$present $p"
done
if [ -n "$present" ]; then
	say "removing:$present"
	apt-get remove -y -q $present >/dev/null
fi
after=$(installed)
for p in $(echo "$before" | grep -vxF "$after" || true); do
	case " $DEV $PEERS " in *" $p "*) ;; *) restore="$restore $p" ;; esac
done

# The work tree as committed or staged, not build products.
(cd "$ROOT" && git ls-files -z | tar --null -T - -cf -) | (mkdir -p "$scratch/s" && tar -C "$scratch/s" -xf -)
cd "$scratch/s"

say "make all without the packages: expecting a message naming them"
if make all >"$scratch/all.log" 2>&1; then
	fail "make all succeeded without the build packages?"
fi
grep -q "install the Debian package" "$scratch/all.log" ||
	{ tail -20 "$scratch/all.log" >&2; fail "make all did not name the missing package"; }
if grep -q "fatal error" "$scratch/all.log"; then
	tail -20 "$scratch/all.log" >&2
	fail "make all reached the compiler without its packages"
fi
grep "install the Debian package" "$scratch/all.log" | sed 's/^/  /' >&2

say "make run on the stripped machine (installs, builds, starts)"
setsid make run >"$scratch/run.log" 2>&1 &
make_pid=$!
t=0
until [ -x $PY ] && $PY - "$PORT" <<'EOF'
import socket, sys
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=2)
s.sendall(b"<?xml version='1.0'?><stream:stream to='localhost' version='1.0' "
          b"xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>")
got = b''
while b'</stream:features>' not in got:
    d = s.recv(4096)
    if not d:
        break
    got += d
sys.exit(0 if b'starttls' in got and b'</stream:features>' in got else 1)
EOF
do
	if ! kill -0 "$make_pid" 2>/dev/null; then
		make_pid=
		tail -30 "$scratch/run.log" >&2
		fail "make run exited before the server answered"
	fi
	[ $t -lt $TIMEOUT ] || { tail -30 "$scratch/run.log" >&2; fail "no answer on port $PORT within $TIMEOUT s"; }
	sleep 1
	t=$((t + 1))
done 2>/dev/null
say "the cm answered with its stream features after ${t} s"

ctl="bin/starlingctl -c etc/starling.conf"
$ctl adduser alice@localhost secret >/dev/null || fail "starlingctl adduser failed while make run ran"
$ctl status | grep -q '^starling_' || fail "starlingctl status printed no figures"
say "starlingctl adduser and status answered"

kill -TERM "-$make_pid"
wait "$make_pid" 2>/dev/null || true
make_pid=
# make itself exits at once; run.sh then stops the cm and the core (a cm takes
# up to a second to tell its clients and hand back what they never acknowledged).
for _ in $(seq 1 100); do
	left=$(for d in /proc/[0-9]*; do readlink "$d/exe" 2>/dev/null; done | grep -x "$scratch/s/bin/starling-.*" || true)
	[ -z "$left" ] && break
	sleep 0.1
done
[ -z "$left" ] || fail "still running 10 s after make run was stopped: $left"

grep -q "Connect any XMPP client" "$scratch/run.log" || fail "make run did not say how to connect"
say "ok: first make run installed, built, served and stopped"

say "make bench-compare --quick (installs Prosody and ejabberd, benches all three)"
make bench-compare BENCH_ARGS="--quick --out $scratch/perf.md --work $scratch/bench" \
	>"$scratch/bench.log" 2>&1 || { tail -30 "$scratch/bench.log" >&2; fail "make bench-compare failed"; }
grep -q '| starling | prosody | ejabberd |' "$scratch/perf.md" || fail "no side-by-side table in the bench results"
say "ok: make bench-compare installed the peers and ran"
