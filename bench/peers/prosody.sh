#!/bin/bash
# Prosody (Debian 12 package, 0.12) as a comparison target for starling-bench.
# Subcommands: install | provision | start | stop.  See bench/peers/README.md.
set -euo pipefail
PEER=prosody
. "$(dirname "$0")/common.sh"

PY=/usr/bin/python3 # Debian's python (stdlib only), not a pyenv one on PATH
PROSODY=/usr/bin/prosody

usage() {
	cat >&2 <<'EOF'
usage: prosody.sh install
       prosody.sh provision DIR --domain D --users PAT --first K -n N --password PW [--contacts C]
       prosody.sh start DIR --domain D --port P [--tls-port P2] --cert CERT --key KEY [--nodelay]
       prosody.sh stop DIR
EOF
	exit 2
}

# The Debian package starts its own instance (/etc/prosody, port 5222) where the
# init system allows it; only our instance may run during a benchmark.
stop_system_service() {
	disable_debian_service
	[ -x /etc/init.d/prosody ] && /etc/init.d/prosody stop >/dev/null 2>&1 || true
	# Whatever is left: prosody processes not started by this script (ours always
	# carry --config DIR/prosody.cfg.lua on their command line).
	local p cmd
	for p in $(pgrep -x lua5.4 || true) $(pgrep -x lua5.2 || true) $(pgrep -x prosody || true); do
		cmd=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null) || continue
		case "$cmd" in
		*prosody*--config*prosody.cfg.lua*) ;;
		*/usr/bin/prosody*)
			echo "stopping system prosody (pid $p): $cmd" >&2
			kill "$p" 2>/dev/null || true ;;
		esac
	done
}

# provision: write Prosody's internal storage (mod_storage_internal, util.datamanager
# layout) directly: DATA/<host>/accounts/<user>.dat and DATA/<host>/roster/<user>.dat.
cmd_provision() {
	parse_provision "$@"
	local dir=$PV_DIR domain=$PV_DOMAIN pat=$PV_PAT first=$PV_FIRST n=$PV_N pw=$PV_PW
	local contacts=$PV_CONTACTS
	running_pids "$dir" >/dev/null && die "a server is running on $dir; stop it first"
	mkdir -p "$dir/data"
	"$PY" - "$dir/data" "$domain" "$pat" "$first" "$n" "$pw" "$contacts" <<'PYEOF'
import hashlib, hmac, multiprocessing, os, re, shutil, sys, time, uuid

data, domain, pat, first, n, pw, contacts = sys.argv[1:8]
first, n, contacts = int(first), int(n), int(contacts)
ITER = 10000  # mod_auth_internal_hashed default_iteration_count (Prosody 0.12)
# pattern, -n, --first and --contacts are checked by parse_provision (common.sh)
domain = domain.lower()           # nameprep of an ASCII domain
def user(i):                      # nodeprep of an ASCII username: lower case
    return (pat % (first + i)).lower()
if not re.fullmatch(r'[\x21-\x7e]+', pat % first) or '@' in pat or '/' in pat:
    sys.exit('provision: username must be printable ASCII without @ or /')

def enc(s):                       # util.datamanager encode(): every %W byte as %xx
    return re.sub(rb'[^A-Za-z0-9]', lambda m: b'%%%02x' % m.group(0)[0],
                  s.encode()).decode()

def lstr(s):                      # a Lua string literal as util.serialization writes it
    return '"' + s.replace('\\', '\\\\').replace('"', '\\"') + '"'

hostdir = os.path.join(data, enc(domain))
accdir, rosdir = os.path.join(hostdir, 'accounts'), os.path.join(hostdir, 'roster')
for d in (accdir, rosdir):        # re-provisioning replaces, never merges
    shutil.rmtree(d, ignore_errors=True)
os.makedirs(accdir, mode=0o750)
if contacts:
    os.makedirs(rosdir, mode=0o750)
pwb = pw.encode()                 # SASLprep of an ASCII password is the identity

def write(path, text):
    with open(path, 'w') as f:
        f.write(text)

def work(rng):
    for i in range(*rng):
        u = user(i)
        salt = str(uuid.uuid4())  # what Prosody's create_user uses (util.uuid)
        sp = hashlib.pbkdf2_hmac('sha1', pwb, salt.encode(), ITER)
        stored = hashlib.sha1(hmac.new(sp, b'Client Key', 'sha1').digest()).hexdigest()
        server = hmac.new(sp, b'Server Key', 'sha1').hexdigest()
        write(os.path.join(accdir, enc(u) + '.dat'),
              'return {\n\t["iteration_count"] = %d;\n\t["salt"] = %s;\n'
              '\t["stored_key"] = %s;\n\t["server_key"] = %s;\n};\n'
              % (ITER, lstr(salt), lstr(stored), lstr(server)))
        if not contacts:
            continue
        # rostermanager's layout: [false] = metadata, then bare JID => item
        out = ['return {\n\t[false] = {\n\t\t["version"] = 1;\n\t\t["pending"] = {};\n\t};\n']
        for d in range(1, contacts // 2 + 1):
            for j in ((i + d) % n, (i - d) % n):
                out.append('\t[%s] = {\n\t\t["subscription"] = "both";\n'
                           '\t\t["groups"] = {\n\t\t\t["bench"] = true;\n\t\t};\n\t};\n'
                           % lstr(user(j) + '@' + domain))
        out.append('};\n')
        write(os.path.join(rosdir, enc(u) + '.dat'), ''.join(out))
    return rng[1] - rng[0]

t0 = time.monotonic()
step = 250
chunks = [(a, min(a + step, n)) for a in range(0, n, step)]
with multiprocessing.Pool(os.cpu_count() or 1) as pool:
    done = sum(pool.map(work, chunks))
print('provisioned %d accounts %s..%s@%s (SCRAM-SHA-1, %d iterations, own salt each), '
      'contacts %d each, in %.1f s' % (done, user(0), user(n - 1), domain, ITER, contacts,
                                      time.monotonic() - t0))
PYEOF
}

# PIDs recorded in DIR/pids that are still alive and still Prosody; exit 1 if none.
running_pids() {
	local dir=$1 p found=1
	[ -f "$dir/pids" ] || return 1
	while read -r p; do
		[ -n "$p" ] || continue
		if tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q prosody; then
			echo "$p"; found=0
		fi
	done <"$dir/pids"
	return $found
}

write_config() {
	local dir=$1 domain=$2 port=$3 tlsport=$4 cert=$5 key=$6 nagle=$7
	cat >"$dir/prosody.cfg.lua" <<EOF
-- Generated by bench/peers/prosody.sh start; see bench/peers/README.md.
run_as_root = true                   -- the bench runs as root; DIR is root's
pidfile = "$dir/prosody.pid"
data_path = "$dir/data"
plugin_paths = { }                   -- nothing from /usr/local/lib/prosody/modules
certificates = "$dir/certs"          -- empty; the ssl table below is used
log = { warn = "$dir/prosody.log" }  -- warnings and errors only, no syslog

interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_ports = { $port }
c2s_direct_tls_ports = { $tlsport }
c2s_require_encryption = true        -- STARTTLS required (also the default)
ssl = { certificate = "$cert"; key = "$key" }

-- Default backend (epoll) and, unless started with --nodelay, default Nagle
-- (nagle = true).  Only the accept queue is raised, as for the other servers
-- (login bursts overflow the default 128).
network_settings = { tcp_backlog = 4096; nagle = $nagle }

authentication = "internal_hashed"   -- SCRAM-SHA-1 hashes, 10000 iterations
storage = "internal"                 -- flat files under data_path
allow_registration = false

-- mod_limits is not loaded, so c2s has no rate limit (the Debian config has
-- 10kb/s).  Autoloaded: posix presence message iq offline c2s (s2s disabled).
modules_enabled = { "roster"; "saslauth"; "tls"; "disco"; "ping" }
modules_disabled = { "s2s"; "s2s_auth_certs" }

VirtualHost "$domain"
EOF
}

cmd_start() {
	parse_start "$@"
	local dir=$ST_DIR domain=$ST_DOMAIN port=$ST_PORT tlsport=$ST_TLSPORT cert=$ST_CERT
	local key=$ST_KEY nagle=true
	[ "$ST_NODELAY" = false ] || nagle=false
	mkdir -p "$dir/data" "$dir/certs"
	write_config "$dir" "$domain" "$port" "$tlsport" "$cert" "$key" "$nagle"
	rm -f "$dir/pids" "$dir/prosody.pid"
	raise_nofile
	# -D: Prosody forks into the background once its listeners are up, in a new
	# session with stdio on /dev/null; this shell returns when that happened.
	(cd "$dir" && exec setsid "$PROSODY" -D --config "$dir/prosody.cfg.lua" \
		</dev/null >"$dir/console.log" 2>&1) ||
		die "prosody failed to start (exit $?); see $dir/console.log and $dir/prosody.log"
	wait_port "$port" || die "port $port not accepting after 60 s; see $dir/prosody.log"
	local deadline=$((SECONDS + 10))
	while [ ! -s "$dir/prosody.pid" ] && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
	[ -s "$dir/prosody.pid" ] || die "no pidfile $dir/prosody.pid"
	local pid
	pid=$(cat "$dir/prosody.pid")
	kill -0 "$pid" 2>/dev/null || die "prosody (pid $pid) is not running"
	echo "$pid" >"$dir/pids"
	paste -sd, "$dir/pids"
}

cmd_stop() {
	[ $# -eq 1 ] || usage
	local stopped
	stopped=$(stop_running "$1")
	rm -f "$1/pids"
	if [ -z "$stopped" ]; then
		echo "prosody.sh: nothing running on $1" >&2
	else
		echo "stopped $stopped"
	fi
}

peer_main "$@"
