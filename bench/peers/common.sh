# common.sh: what prosody.sh and ejabberd.sh share (sourced, not run).
# The sourcing script sets PEER (its name and its Debian package's) and
# defines usage, stop_system_service, running_pids DIR and cmd_provision,
# cmd_start, cmd_stop; peer_main dispatches the subcommand.

die() { echo "$PEER.sh: $*" >&2; exit 1; }

# Values end up inside Lua/YAML/Erlang string literals: keep them plain.
check_domain() { [[ $1 =~ ^[A-Za-z0-9][A-Za-z0-9.-]*$ ]] || die "bad domain: $1"; }
check_path() { [[ $1 =~ ^[A-Za-z0-9_./+,=:@-]+$ ]] || die "unsupported characters in path: $1"; }
check_port() { [[ $1 =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le 65535 ] || die "bad port: $1"; }

# provision DIR --domain D --users PAT --first K -n N --password PW [--contacts C]
# into PV_DIR PV_DOMAIN PV_PAT PV_FIRST PV_N PV_PW PV_CONTACTS.
parse_provision() {
	PV_DIR="" PV_DOMAIN="" PV_PAT="" PV_FIRST="" PV_N="" PV_PW="" PV_CONTACTS=0
	[ $# -ge 1 ] || usage
	PV_DIR=$1; shift
	while [ $# -gt 0 ]; do
		case $1 in
		--domain) PV_DOMAIN=$2; shift 2 ;;
		--users|--user) PV_PAT=$2; shift 2 ;;
		--first) PV_FIRST=$2; shift 2 ;;
		-n) PV_N=$2; shift 2 ;;
		--password) PV_PW=$2; shift 2 ;;
		--contacts) PV_CONTACTS=$2; shift 2 ;;
		*) usage ;;
		esac
	done
	[ -n "$PV_DOMAIN" ] && [ -n "$PV_PAT" ] && [ -n "$PV_FIRST" ] && [ -n "$PV_N" ] &&
		[ -n "$PV_PW" ] || usage
	check_domain "$PV_DOMAIN"
	check_path "$PV_DIR"
	local rest=${PV_PAT//"%d"/}
	[ $((${#PV_PAT} - ${#rest})) -eq 2 ] || die "provision: --users needs exactly one %d"
	[[ $PV_FIRST =~ ^[0-9]+$ && $PV_N =~ ^[0-9]+$ && $PV_N -ge 1 ]] ||
		die "provision: need -n >= 1 and --first >= 0"
	[[ $PV_CONTACTS =~ ^[0-9]+$ ]] && [ $((PV_CONTACTS % 2)) -eq 0 ] &&
		{ [ "$PV_CONTACTS" -eq 0 ] || [ "$PV_CONTACTS" -lt "$PV_N" ]; } ||
		die "provision: --contacts must be even, >= 0 and < n"
}

# start DIR --domain D --port P [--tls-port P2] --cert CERT --key KEY [--nodelay]
# into ST_DIR ST_DOMAIN ST_PORT ST_TLSPORT ST_CERT ST_KEY (absolute paths)
# and ST_NODELAY (true/false; only prosody.sh uses it); makes DIR and checks
# that nothing runs on DIR and that the ports are free.
parse_start() {
	ST_DIR="" ST_DOMAIN="" ST_PORT="" ST_TLSPORT="" ST_CERT="" ST_KEY="" ST_NODELAY=false
	[ $# -ge 1 ] || usage
	ST_DIR=$1; shift
	while [ $# -gt 0 ]; do
		case $1 in
		--nodelay) ST_NODELAY=true; shift ;;
		--domain) ST_DOMAIN=$2; shift 2 ;;
		--port) ST_PORT=$2; shift 2 ;;
		--tls-port) ST_TLSPORT=$2; shift 2 ;;
		--cert) ST_CERT=$2; shift 2 ;;
		--key) ST_KEY=$2; shift 2 ;;
		*) usage ;;
		esac
	done
	[ -n "$ST_DOMAIN" ] && [ -n "$ST_PORT" ] && [ -n "$ST_CERT" ] && [ -n "$ST_KEY" ] || usage
	check_domain "$ST_DOMAIN"; check_port "$ST_PORT"
	[ -z "$ST_TLSPORT" ] || check_port "$ST_TLSPORT"
	[ -r "$ST_CERT" ] && [ -r "$ST_KEY" ] || die "cannot read $ST_CERT / $ST_KEY"
	mkdir -p "$ST_DIR"
	ST_DIR=$(realpath "$ST_DIR"); ST_CERT=$(realpath "$ST_CERT"); ST_KEY=$(realpath "$ST_KEY")
	check_path "$ST_DIR"; check_path "$ST_CERT"; check_path "$ST_KEY"
	running_pids "$ST_DIR" >/dev/null &&
		die "already running on $ST_DIR (pids $(running_pids "$ST_DIR" | paste -sd,))"
	port_busy "$ST_PORT" && die "port $ST_PORT is already in use"
	[ -n "$ST_TLSPORT" ] && port_busy "$ST_TLSPORT" && die "port $ST_TLSPORT is already in use"
	return 0
}

port_busy() {
	ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
}

# wait_port PORT [PID]: until PORT accepts (60 s), or PID has died.
wait_port() {
	local port=$1 pid=${2:-} deadline=$((SECONDS + 60))
	while [ $SECONDS -lt $deadline ]; do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			return 0
		fi
		[ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null && return 1
		sleep 0.2
	done
	return 1
}

# The server's own limits: as many descriptors as the kernel lets root have.
raise_nofile() {
	ulimit -Hn 1048576 2>/dev/null || ulimit -Hn 65536 2>/dev/null || true
	ulimit -n "$(ulimit -Hn)"
	[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge 65536 ] ||
		echo "note: open-file limit is $(ulimit -n) (the hard limit; raising it was refused)" >&2
}

# TERM the server's PIDs (running_pids DIR), KILL what is left after 10 s.
# Prints the PIDs it stopped; empty when nothing ran.
stop_running() {
	local dir=$1 pids p deadline
	pids=$(running_pids "$dir" || true)
	[ -n "$pids" ] || return 0
	kill -TERM $pids 2>/dev/null || true
	deadline=$((SECONDS + 10))
	while [ $SECONDS -lt $deadline ]; do
		[ -z "$(running_pids "$dir" || true)" ] && break
		sleep 0.2
	done
	for p in $(running_pids "$dir" || true); do
		echo "$PEER.sh: pid $p ignored SIGTERM for 10 s; SIGKILL" >&2
		kill -KILL "$p" 2>/dev/null || true
	done
	echo $pids | tr ' ' ,
}

# The package's service, wherever an init system would start it.
disable_debian_service() {
	if [ -d /run/systemd/system ]; then
		systemctl disable --now "$PEER.service" >/dev/null 2>&1 || true
	fi
	if command -v update-rc.d >/dev/null; then
		update-rc.d "$PEER" disable >/dev/null 2>&1 || true
	fi
}

# install: the Debian package (the package is named like the script), and
# none of its own instance running (stop_system_service, per server).
cmd_install() {
	[ $# -eq 0 ] || usage
	if ! dpkg-query -W -f='${Status}' "$PEER" 2>/dev/null | grep -q 'install ok installed'; then
		# A fresh machine may have no package lists yet.
		DEBIAN_FRONTEND=noninteractive apt-get install -y "$PEER" ||
			{ apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y "$PEER"; }
	fi
	stop_system_service
	echo "$PEER $(dpkg-query -W -f='${Version}' "$PEER") installed; system service stopped/disabled"
}

peer_main() {
	[ $# -ge 1 ] || usage
	local sub=$1
	shift
	case $sub in
	install) cmd_install "$@" ;;
	provision) cmd_provision "$@" ;;
	start) cmd_start "$@" ;;
	stop) cmd_stop "$@" ;;
	*) usage ;;
	esac
}
