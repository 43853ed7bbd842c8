#!/bin/sh
# mkclientcert.sh DIR NAME CN [XMPPADDR...]: a client certificate for SASL
# EXTERNAL tests (XEP-0178), DIR/NAME.pem and DIR/NAME.key (ECDSA P-256),
# subject CN, one id-on-xmppAddr otherName (RFC 6120 §13.7.1.4) per XMPPADDR,
# signed by DIR/ca.pem (made on first use; DIR/ca.pem is what [tls]
# client_ca names).  NAME "self" makes a self-signed one instead, which no
# CA vouches for.  Tests only.
set -eu
dir=${1:?usage: mkclientcert.sh DIR NAME CN [XMPPADDR...]}
name=${2:?name}
cn=${3:?cn}
shift 3
san=
for a in "$@"; do
	san=${san:+$san,}otherName:1.3.6.1.5.5.7.8.5\;UTF8:$a
done
ext=
[ -z "$san" ] || ext="-addext subjectAltName=$san"
if [ ! -e "$dir/ca.pem" ]; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
		-keyout "$dir/ca.key" -out "$dir/ca.pem" -subj /CN=starling-test-client-ca 2>/dev/null
fi
if [ "$name" = self ]; then
	# shellcheck disable=SC2086 # $ext is one option and its value, or nothing
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
		-keyout "$dir/$name.key" -out "$dir/$name.pem" -subj "/CN=$cn" $ext 2>/dev/null
	exit 0
fi
# shellcheck disable=SC2086
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/$name.key" \
	-subj "/CN=$cn" $ext 2>/dev/null |
	openssl x509 -req -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -days 30 \
		-copy_extensions copy -out "$dir/$name.pem" 2>/dev/null
