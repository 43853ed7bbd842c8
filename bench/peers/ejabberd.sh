#!/bin/bash
# ejabberd (Debian 12 package, 23.01) as a comparison target for starling-bench.
# Subcommands: install | provision | start | stop.  See bench/peers/README.md.
#
# The node runs as root straight from `erl` (ejabberdctl would su to the ejabberd
# user, who cannot write DIR) with a node name, cookie, HOME, Mnesia spool, logs
# and pidfile private to DIR, so it never meets the Debian node ejabberd@localhost.
set -euo pipefail
PEER=ejabberd
. "$(dirname "$0")/common.sh"

PY=/usr/bin/python3 # Debian's python (stdlib only), not a pyenv one on PATH
ERL=/usr/bin/erl
EJ_LIBS=/usr/lib/x86_64-linux-gnu # where Debian puts ejabberd-23.01-1/ and its deps
ITER=4096                          # ejabberd's ?SCRAM_DEFAULT_ITERATION_COUNT

usage() {
	cat >&2 <<'EOF'
usage: ejabberd.sh install
       ejabberd.sh provision DIR --domain D --users PAT --first K -n N --password PW [--contacts C]
       ejabberd.sh start DIR --domain D --port P [--tls-port P2] --cert CERT --key KEY
       ejabberd.sh stop DIR
EOF
	exit 2
}

# The Debian package starts node ejabberd@localhost (/etc/ejabberd, spool
# /var/lib/ejabberd, ports 5222 5269 5280 5443 ...) where the init system allows;
# only our node may run during a benchmark.
stop_system_service() {
	disable_debian_service
	local p cmd
	for p in $(pgrep -x beam.smp || true); do
		cmd=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null) || continue
		case "$cmd" in
		*"-sname ejabberd@localhost "* | *"-name ejabberd@"* | *"/var/lib/ejabberd"*)
			echo "stopping system ejabberd (pid $p)" >&2
			kill "$p" 2>/dev/null || true ;;
		esac
	done
}

# Node name, cookie and environment private to DIR (absolute).  Mnesia ties its
# schema to the node name, so provision and start must agree on it.
node_name() {
	echo "bench_$(printf '%s' "$1" | sha1sum | cut -c1-10)@localhost"
}

ensure_cookie() {
	local dir=$1
	if [ ! -s "$dir/cookie" ]; then
		(umask 077 && head -c 24 /dev/urandom | sha1sum | cut -c1-20 | tr a-f A-F >"$dir/cookie")
	fi
}

# Runs erl for DIR's node with the environment ejabberdctl would set.
run_erl() {
	local dir=$1 cfg=$2; shift 2
	mkdir -p "$dir/log" "$dir/spool"
	env HOME="$dir" \
		EJABBERD_CONFIG_PATH="$cfg" \
		EJABBERD_LOG_PATH="$dir/log/ejabberd.log" \
		EJABBERD_PID_PATH="$dir/ejabberd.pid" \
		ERL_CRASH_DUMP="$dir/log/erl_crash.dump" \
		ERL_INETRC=/etc/ejabberd/inetrc \
		ERL_MAX_PORTS=65536 \
		ERL_MAX_ETS_TABLES=1400 \
		ERL_EPMD_ADDRESS=127.0.0.1 \
		ERL_LIBS="$EJ_LIBS" \
		CONTRIB_MODULES_PATH="$dir/contrib" \
		"$ERL" -sname "$(node_name "$dir")" -setcookie "$(cat "$dir/cookie")" \
		-kernel inet_dist_use_interface '{127,0,0,1}' \
		+K true +P 250000 -env ERL_CRASH_DUMP_BYTES 0 \
		-mnesia dir "\"$dir/spool\"" "$@"
}

# Parts of the config shared by provisioning and the server proper.
write_common_config() {
	local domain=$1
	cat <<EOF
hosts:
  - "$domain"
loglevel: warning
log_rotate_count: 0
hide_sensitive_log_data: true
auth_method: [internal]
auth_password_format: scram
auth_scram_hash: sha
disable_sasl_mechanisms: ["DIGEST-MD5", "X-OAUTH2"]
default_db: mnesia
acl:
  local:
    user_regexp: ""
access_rules:
  c2s:
    allow: all
  register:
    deny: all
EOF
}

cmd_provision() {
	parse_provision "$@"
	local dir=$PV_DIR domain=$PV_DOMAIN pat=$PV_PAT first=$PV_FIRST n=$PV_N pw=$PV_PW
	local contacts=$PV_CONTACTS
	mkdir -p "$dir"
	dir=$(realpath "$dir")
	running_pids "$dir" >/dev/null && die "a server is running on $dir; stop it first"
	rm -rf "$dir/spool" "$dir/import.xml" # re-provisioning replaces, never merges
	ensure_cookie "$dir"
	local t0=$SECONDS
	"$PY" - "$dir/import.xml" "$domain" "$pat" "$first" "$n" "$pw" "$contacts" "$ITER" <<'PYEOF'
import base64, hashlib, hmac, multiprocessing, os, re, sys, time
from xml.sax.saxutils import quoteattr

out, domain, pat, first, n, pw, contacts, ITER = sys.argv[1:9]
first, n, contacts, ITER = int(first), int(n), int(contacts), int(ITER)
# pattern, -n, --first and --contacts are checked by parse_provision (common.sh)
if not re.fullmatch(r'[\x21-\x7e]+', pat % first) or re.search(r'[@/"&\'<>:]', pat):
    sys.exit('provision: username must be printable ASCII without @ / : " & \' < >')
domain = domain.lower()
def user(i):
    return (pat % (first + i)).lower()
pwb = pw.encode()
b64 = lambda b: base64.b64encode(b).decode()

def work(rng):
    parts = []
    for i in range(*rng):
        salt = os.urandom(16)     # ejabberd's ?SALT_LENGTH random bytes
        sp = hashlib.pbkdf2_hmac('sha1', pwb, salt, ITER)
        stored = hashlib.sha1(hmac.new(sp, b'Client Key', 'sha1').digest()).digest()
        server = hmac.new(sp, b'Server Key', 'sha1').digest()
        # ejabberd 23.01 keeps the #scram{} fields base64-encoded in Mnesia, but its
        # PIEFXIS importer base64-decodes them once before storing: encode twice.
        parts.append('<user name=%s><scram-credentials xmlns="urn:xmpp:pie:0#scram" '
                     'mechanism="SCRAM-SHA-1"><iter-count>%d</iter-count><salt>%s</salt>'
                     '<server-key>%s</server-key><stored-key>%s</stored-key>'
                     '</scram-credentials>'
                     % (quoteattr(user(i)), ITER, b64(b64(salt).encode()),
                        b64(b64(server).encode()), b64(b64(stored).encode())))
        if contacts:
            parts.append('<query xmlns="jabber:iq:roster">')
            for d in range(1, contacts // 2 + 1):
                for j in ((i + d) % n, (i - d) % n):
                    parts.append('<item jid=%s subscription="both"><group>bench</group></item>'
                                 % quoteattr(user(j) + '@' + domain))
            parts.append('</query>')
        parts.append('</user>\n')
    return ''.join(parts)

t0 = time.monotonic()
step = 250
chunks = [(a, min(a + step, n)) for a in range(0, n, step)]
with open(out, 'w') as f:
    f.write('<?xml version="1.0" encoding="UTF-8"?>\n<server-data xmlns="urn:xmpp:pie:0">\n'
            '<host jid=%s>\n' % quoteattr(domain))
    with multiprocessing.Pool(os.cpu_count() or 1) as pool:
        for text in pool.imap(work, chunks):
            f.write(text)
    f.write('</host>\n</server-data>\n')
print('generated %s: %d accounts %s..%s@%s (SCRAM-SHA-1, %d iterations, own salt each), '
      'contacts %d each, in %.1f s' % (out, n, user(0), user(n - 1), domain, ITER, contacts,
                                      time.monotonic() - t0))
PYEOF
	# A node with no listeners imports the file into DIR's Mnesia and stops.
	{ write_common_config "$domain"; cat <<EOF
listen: []
modules:
  mod_roster: {}
EOF
	} >"$dir/provision.yml"
	local out rc=0
	out=$(run_erl "$dir" "$dir/provision.yml" -noinput -eval '
		{ok, _} = ejabberd:start(),
		R = ejabberd_piefxis:import_file(<<"'"$dir"'/import.xml">>),
		N = length(ejabberd_auth:get_users(<<"'"${domain,,}"'">>)),
		io:format("import: ~p, ~b accounts~n", [R, N]),
		init:stop(case R of ok -> 0; _ -> 1 end).' 2>&1) || rc=$?
	if [ $rc -ne 0 ] || ! echo "$out" | grep -q '^import: ok'; then
		echo "$out" >&2
		die "import failed (exit $rc); see $dir/log/ejabberd.log"
	fi
	echo "$out" | grep '^import: '
	rm -f "$dir/ejabberd.pid"
	echo "provisioned $dir in $((SECONDS - t0)) s"
}

# PIDs recorded in DIR/pids that are still alive and still this node's; exit 1 if none.
running_pids() {
	local dir=$1 p found=1 node
	[ -f "$dir/pids" ] || return 1
	node=$(node_name "$dir")
	while read -r p; do
		[ -n "$p" ] || continue
		if [ -r "/proc/$p/cmdline" ]; then
			# erl_child_setup's command line is just its fd count: match by parent
			if tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF -e "$node" -e erl_child_setup; then
				echo "$p"; found=0
			fi
		fi
	done <"$dir/pids"
	return $found
}

c2s_listener() { # port, tls|starttls
	cat <<EOF
  -
    port: $1
    ip: "127.0.0.1"
    module: ejabberd_c2s
    backlog: 4096
    shaper: none
    max_stanza_size: 262144
    access: c2s
EOF
	if [ "$2" = tls ]; then
		echo "    tls: true"
	else
		echo "    starttls_required: true"
	fi
}

cmd_start() {
	parse_start "$@"
	[ "$ST_NODELAY" = false ] || usage # ejabberd sets TCP_NODELAY itself
	local dir=$ST_DIR domain=$ST_DOMAIN port=$ST_PORT tlsport=$ST_TLSPORT cert=$ST_CERT
	local key=$ST_KEY
	ensure_cookie "$dir"
	{
		echo "# Generated by bench/peers/ejabberd.sh start; see bench/peers/README.md."
		write_common_config "$domain"
		cat <<EOF
certfiles:
  - "$cert"
  - "$key"
listen:
EOF
		c2s_listener "$port" starttls
		[ -z "$tlsport" ] || c2s_listener "$tlsport" tls
		cat <<EOF
modules:
  mod_roster: {}
  mod_ping: {}
  mod_disco: {}
EOF
	} >"$dir/ejabberd.yml"
	rm -f "$dir/pids" "$dir/ejabberd.pid"
	raise_nofile
	# -detached: erlexec starts beam.smp in a new session with stdio closed and
	# returns; ejabberd writes EJABBERD_PID_PATH once its applications run.
	(cd "$dir" && run_erl "$dir" "$dir/ejabberd.yml" -s ejabberd -detached \
		</dev/null >"$dir/log/console.log" 2>&1) ||
		die "erl failed to start; see $dir/log/console.log"
	# The node's beam.smp is the one process whose command line has its -sname.
	local node deadline=$((SECONDS + 60)) pid=""
	node=$(node_name "$dir")
	while [ -z "$pid" ] && [ $SECONDS -lt $deadline ]; do
		pid=$(pgrep -f -- "-sname $node " | head -1) || sleep 0.1
	done
	[ -n "$pid" ] || die "no beam.smp for node $node; see $dir/log/console.log"
	if ! wait_port "$port" "$pid"; then
		grep -m1 -o 'failed_to_start_child,{[0-9]*,{[0-9,]*},tcp},[a-z]*' \
			"$dir/log/ejabberd.log" >&2 || true
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
		die "port $port not accepting; see $dir/log/ejabberd.log"
	fi
	deadline=$((SECONDS + 10)) # ejabberd writes its pidfile when fully started
	while [ ! -s "$dir/ejabberd.pid" ] && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
	[ "$(cat "$dir/ejabberd.pid" 2>/dev/null)" = "$pid" ] ||
		echo "ejabberd.sh: warning: $dir/ejabberd.pid does not hold beam.smp pid $pid" >&2
	# beam.smp and its children (erl_child_setup, the VM's helper for spawning
	# ports).  epmd is a separate, shared daemon and is not counted.
	{ echo "$pid"; pgrep -P "$pid" || true; } >"$dir/pids"
	paste -sd, "$dir/pids"
}

cmd_stop() {
	[ $# -eq 1 ] || usage
	local dir node stopped p
	dir=$(realpath "$1")
	node=$(node_name "$dir")
	# beam.smp turns SIGTERM into init:stop(): Mnesia is closed cleanly.
	stopped=$(stop_running "$dir")
	[ -n "$stopped" ] || echo "ejabberd.sh: nothing running on $dir" >&2
	# Anything else of this node's (e.g. a provisioning node left by an interrupt).
	for p in $(pgrep -f -- "-sname $node" || true); do
		echo "ejabberd.sh: leftover process $p of node $node; SIGKILL" >&2
		kill -KILL "$p" 2>/dev/null || true
	done
	rm -f "$dir/pids" "$dir/ejabberd.pid"
	[ -z "$stopped" ] || echo "stopped $stopped"
}

peer_main "$@"
