#!/bin/sh
# mkcert.sh DIR [DOMAIN...]: create DIR/cert.pem and DIR/key.pem, a self-signed
# ECDSA P-256 certificate for every DOMAIN (default localhost; the first is the
# subject's CN, all are subjectAltNames, for virtual hosts) valid for 10 years.
# For development and tests only; see docs/configuration.md for real
# certificates.  Does nothing when both files already exist, and refuses to
# touch a directory holding only one of them (it may be a real key or cert).
set -eu

dir=${1:?usage: mkcert.sh DIR [DOMAIN...]}
shift
[ $# -gt 0 ] || set -- localhost
domain=$1
san=

# The domains go into -subj and -addext, so keep them to hostname characters.
for d in "$@"; do
	case $d in
	'' | *[!A-Za-z0-9.-]*)
		echo "mkcert.sh: bad domain '$d' (letters, digits, '.', '-' only)" >&2
		exit 2
		;;
	esac
	san=${san:+$san,}DNS:$d
done

cert=$dir/cert.pem
key=$dir/key.pem
if [ -e "$cert" ] && [ -e "$key" ]; then
	exit 0
fi
if [ -e "$cert" ] || [ -e "$key" ]; then
	echo "mkcert.sh: only one of $cert and $key exists; remove it or add the other" >&2
	exit 1
fi

mkdir -p "$dir"
# Generate under temporary names and rename at the end, so an interrupted run
# never leaves a half-written pair that the check above would accept.
tmpc=$dir/.cert.pem.$$
tmpk=$dir/.key.pem.$$
trap 'rm -f "$tmpc" "$tmpk"' EXIT
umask 077
# CA:FALSE + serverAuth: some clients reject a CA certificate used as a leaf.
if ! out=$(openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-days 3650 -subj "/CN=$domain" \
	-addext "subjectAltName=$san" \
	-addext "basicConstraints=critical,CA:FALSE" \
	-addext "keyUsage=critical,digitalSignature" \
	-addext "extendedKeyUsage=serverAuth" \
	-keyout "$tmpk" -out "$tmpc" 2>&1); then
	printf '%s\n' "$out" >&2
	echo "mkcert.sh: openssl failed" >&2
	exit 1
fi
chmod 644 "$tmpc"
mv "$tmpk" "$key"
mv "$tmpc" "$cert"
echo "mkcert.sh: wrote self-signed $cert and $key for $*"
