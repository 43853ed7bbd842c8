#!/bin/sh
# Install what Starling needs from Debian, only when something is missing.
# `deps.sh peers` adds the servers the bench compares against (the tests
# and make bench-compare use them; make run does not want a Prosody on 5222).
set -e
PKGS="build-essential pkg-config liburing-dev libssl-dev libxml2-dev libjemalloc-dev
libsqlite3-dev libidn-dev libinih-dev libsystemd-dev openssl clang libclang-rt-14-dev
python3 python3-pytest python3-slixmpp gnuplot-nox"
[ "${1:-}" = peers ] && PKGS="$PKGS prosody ejabberd"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $missing
