#!/usr/bin/env bash
# A local Milvus 2.3.5 standalone server for facebank's development and tests: the
# real server that PyPI's milvus package ("embedded Milvus") carries, with embedded
# etcd, rocksmq and local storage.
#
#   scripts/milvus.sh start    install on first use, start on a fresh data directory, wait until ready
#   scripts/milvus.sh stop     stop the instance (SIGINT; SIGKILL after 15 s) and remove its namespace
#   scripts/milvus.sh status   exit 0 when the instance answers on 127.0.0.1:MILVUS_PORT
#
# Settings, from the environment:
#   MILVUS_PORT            gRPC and REST port on 127.0.0.1 (default 19530); it names the instance
#   FACEBANK_SERVICES_DIR  where the environment and the instances live
#                          (default <repository>/target/services)
#   PYTHON                 the Python 3 that builds the environment (default python3)
#
# The server listens on every interface and cannot be told otherwise, so it runs in a
# network namespace of its own that has nothing but a loopback interface;
# 127.0.0.1:MILVUS_PORT on the host is relayed into it by socat. Inside, the server
# always uses its default ports (19530, 9091, 2379, ...). Instances on different
# ports share nothing but the installed environment: each has its own namespace,
# relay and directory, milvus-<port>, with its data, log and pid files.
#
# Needs root (network namespaces). Every start uses a fresh data directory: nothing
# persists from one start to the next, and a data directory left by an unclean stop
# (which can take Milvus a minute to recover) is never reused.
set -euo pipefail
set +m # no job control: the children must stay in this script's process group until setsid

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PORT=${MILVUS_PORT:-19530}
SERVICES=${FACEBANK_SERVICES_DIR:-$ROOT/target/services}
PYTHON=${PYTHON:-python3}

REQUIREMENTS=(milvus==2.3.5)
# The server's proxy port inside the namespace; the launcher would silently move to
# the next free port if it were taken, which cannot happen in a fresh namespace.
INNER_PORT=19530
SERVER_OPTIONS=(
    --proxy-port "$INNER_PORT"
    # Strong consistency costs about 30 ms a request instead of about 290 ms.
    --extra-config proxy.timeTickInterval=20
    # A server asked to stop gives up on a graceful stop after 10 s instead of 30 min.
    --extra-config common.gracefulStopTimeout=10
)
READY_TIMEOUT_S=120
STOP_TIMEOUT_S=15

die() {
    echo "milvus: $*" >&2
    exit 1
}

[[ $PORT =~ ^[1-9][0-9]*$ ]] && ((PORT <= 65535)) || die "MILVUS_PORT is not a port number: '$PORT'"

mkdir -p "$SERVICES"
SERVICES=$(cd "$SERVICES" && pwd)
VENV=$SERVICES/milvus-venv
INSTALLED=$VENV/.installed # written last, by an install that completed
# The package ships the server and its libraries xz-compressed and unpacks them into
# every new data directory (5 s and 250 MB each time); they are unpacked once here
# and every data directory links to them.
UNPACKED=$VENV/milvus-home
INSTANCE=$SERVICES/milvus-$PORT
DATA=$INSTANCE/data
PID_FILE=$INSTANCE/milvus.pid  # the launcher, milvus-server (Python), which runs the server
RELAY_PID_FILE=$INSTANCE/relay.pid
LOG=$INSTANCE/milvus.log
RELAY_LOG=$INSTANCE/relay.log
NETNS=facebank-milvus-$PORT
# How the relay appears in a process list (socat's view of its own arguments).
RELAY_LISTEN=TCP-LISTEN:$PORT,bind=127.0.0.1,fork,reuseaddr
RELAY_CONNECT="EXEC:ip netns exec $NETNS socat - TCP\\:127.0.0.1\\:$INNER_PORT"

# --- installation (once, shared by every instance) ---------------------------

need_root() {
    ((EUID == 0)) || die "must run as root: the server runs in a network namespace of its own"
    command -v ip >/dev/null || die "no 'ip' command (on Debian: apt-get install iproute2)"
    command -v curl >/dev/null || die "no curl (on Debian: apt-get install curl)"
}

install_socat() {
    command -v socat >/dev/null && return
    echo "milvus: installing socat (apt-get)" >&2
    local log=$SERVICES/milvus-install.log
    export DEBIAN_FRONTEND=noninteractive
    # The package lists may be missing or stale on a fresh machine; refresh them
    # only when the install needs it.
    if ! apt-get install -y socat >>"$log" 2>&1; then
        { apt-get update && apt-get install -y socat; } >>"$log" 2>&1 || {
            tail -n 20 "$log" >&2
            die "apt-get install socat failed; see $log"
        }
    fi
    command -v socat >/dev/null || die "socat is still missing after apt-get install"
}

install() {
    install_socat
    exec 8>"$SERVICES/milvus-venv.lock"
    flock 8
    if [[ -f $INSTALLED && $(<"$INSTALLED") == "${REQUIREMENTS[*]}" ]]; then
        exec 8>&-
        return
    fi

    echo "milvus: installing ${REQUIREMENTS[*]} into $VENV" >&2
    local log=$SERVICES/milvus-install.log
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV" >>"$log" 2>&1 ||
        die "$PYTHON cannot create a virtual environment (on Debian: apt-get install python3-venv); see $log"
    "$VENV/bin/pip" install --disable-pip-version-check --no-input "${REQUIREMENTS[@]}" >>"$log" 2>&1 || {
        tail -n 20 "$log" >&2
        die "pip install failed; see $log"
    }
    # The package's own unpacking step, so that the launcher recognises the result
    # (it compares checksums it writes beside the files) and skips it at start.
    "$VENV/bin/python" -c 'import sys, milvus; milvus._initialize_data_files(sys.argv[1])' "$UNPACKED" >>"$log" 2>&1 || {
        tail -n 20 "$log" >&2
        die "unpacking the Milvus binaries failed; see $log"
    }
    [[ -x $UNPACKED/bin/milvus ]] || die "no milvus binary in $UNPACKED/bin"
    echo "${REQUIREMENTS[*]}" >"$INSTALLED"
    exec 8>&-
}

# --- the running instance --------------------------------------------------------

lock_instance() {
    mkdir -p "$INSTANCE"
    exec 9>"$INSTANCE/lock"
    flock 9
}

# A process that has exited but not been reaped yet (the launcher is this script's
# child until the script ends) counts as gone.
alive() {
    local state
    state=$(sed -n 's/^.*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null) && [[ -n $state && $state != Z ]]
}

# True when process $1 is alive and its arguments, joined by spaces, contain $2.
runs_with() {
    local args
    alive "$1" || return 1
    { mapfile -d '' args <"/proc/$1/cmdline"; } 2>/dev/null || return 1
    [[ " ${args[*]} " == *"$2"* ]]
}

# Prints the pid of this instance's launcher if it runs. A pid file whose process
# is gone, or is now some other program, does not count.
server_pid() {
    local pid
    [[ -f $PID_FILE ]] && pid=$(<"$PID_FILE") && [[ $pid =~ ^[0-9]+$ ]] || return 1
    runs_with "$pid" " --data $DATA " || return 1
    echo "$pid"
}

relay_pid() {
    local pid
    [[ -f $RELAY_PID_FILE ]] && pid=$(<"$RELAY_PID_FILE") && [[ $pid =~ ^[0-9]+$ ]] || return 1
    runs_with "$pid" " $RELAY_LISTEN " || return 1
    echo "$pid"
}

namespace_exists() {
    [[ -e /run/netns/$NETNS ]]
}

# Every process of this instance, wherever it is: those in its namespace, and those
# whose arguments name it (the server orphaned by a killed launcher, the relay and
# its per-connection children), which also finds them after the namespace itself
# was deleted by hand.
instance_pids() {
    if namespace_exists; then
        ip netns pids "$NETNS" 2>/dev/null || true
    fi
    local dir pid args joined
    for dir in /proc/[0-9]*; do
        pid=${dir#/proc/}
        [[ $pid != "$$" && $pid != "$BASHPID" ]] || continue
        { mapfile -d '' args <"$dir/cmdline"; } 2>/dev/null || continue
        joined=" ${args[*]} "
        case $joined in
        *" $DATA/bin/milvus run standalone "* | *" --data $DATA "* | *" $RELAY_LISTEN "* | *" ip netns exec $NETNS "*)
            echo "$pid"
            ;;
        esac
    done
}

any_alive() {
    local pid
    for pid in "$@"; do
        ! alive "$pid" || return 0
    done
    return 1
}

answers() {
    curl -sf --max-time 2 "$1" 2>/dev/null | grep -qF '"code":200'
}

# What a client sees: the server, through the relay.
ready() {
    answers "http://127.0.0.1:$PORT/v1/vector/collections"
}

# The server itself, inside its namespace, without the relay.
ready_inside() {
    namespace_exists && ip netns exec "$NETNS" \
        curl -sf --max-time 2 "http://127.0.0.1:$INNER_PORT/v1/vector/collections" 2>/dev/null |
        grep -qF '"code":200'
}

port_taken() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

report_ready() {
    echo "milvus ready: 127.0.0.1:$PORT (pid $1)"
}

fail_start() {
    echo "milvus: $1; the end of $LOG:" >&2
    tail -n 40 "$LOG" >&2 || true
    if [[ -s $RELAY_LOG ]]; then
        echo "milvus: the end of $RELAY_LOG:" >&2
        tail -n 10 "$RELAY_LOG" >&2 || true
    fi
    terminate
    exit 1
}

# The launcher does not notice when the server under it dies; it is its child
# process named milvus.
server_process() {
    local child
    for child in $(pgrep -P "$1" -x milvus || true); do
        alive "$child" && echo "$child" && return
    done
    return 1
}

wait_until_ready() {
    local pid=$1 deadline=$((SECONDS + READY_TIMEOUT_S)) seen_server=
    # Polled inside the namespace: a relayed poll that finds no server leaves an
    # error in the relay's log each time.
    while ! ready_inside; do
        alive "$pid" || fail_start "milvus-server exited during start"
        relay_pid >/dev/null || fail_start "the relay on 127.0.0.1:$PORT exited"
        if server_process "$pid" >/dev/null; then
            seen_server=1
        elif [[ -n $seen_server ]]; then
            fail_start "the milvus server process exited during start"
        fi
        ((SECONDS < deadline)) || fail_start "not ready within ${READY_TIMEOUT_S} s"
        sleep 0.2
    done
    deadline=$((SECONDS + 10))
    until ready; do
        ((SECONDS < deadline)) || fail_start "ready inside its namespace but not through the relay on 127.0.0.1:$PORT"
        sleep 0.2
    done
}

start() {
    need_root
    install
    lock_instance

    local pid
    if pid=$(server_pid); then
        # Another start may have started it; a relay killed on its own is restarted.
        relay_pid >/dev/null || start_relay
        wait_until_ready "$pid"
        report_ready "$pid"
        return
    fi
    terminate # whatever a killed or crashed instance left behind

    ! port_taken "$PORT" || die "port $PORT on 127.0.0.1 is already in use"

    rm -rf "$DATA"
    mkdir -p "$DATA"
    ln -s "$UNPACKED/bin" "$DATA/bin"
    mkdir -p "$DATA/run" /run/milvus

    # A namespace that outlived its processes can keep sockets that make the
    # launcher's port check fail: always a new one.
    ip netns add "$NETNS" || die "cannot create the network namespace $NETNS"
    ip -n "$NETNS" link set lo up

    : >"$LOG"
    : >"$RELAY_LOG"
    (
        cd "$INSTANCE"
        # --debug: the launcher passes the server's output through to its own (this
        # log) instead of writing it to two files in the data directory. Its own
        # session: it outlives this script and the caller's terminal. `ip netns exec` and sh exec, so $! is the launcher.
        # The server keeps its pid file in /run/milvus whatever it is told: each
        # instance gets its own, mounted there in the mount namespace that
        # `ip netns exec` makes for it.
        exec setsid ip netns exec "$NETNS" sh -c 'mount --bind "$0" /run/milvus && exec "$@"' "$DATA/run" \
            "$VENV/bin/milvus-server" --debug --data "$DATA" "${SERVER_OPTIONS[@]}" \
            >>"$LOG" 2>&1 </dev/null 8>&- 9>&-
    ) &
    pid=$!
    echo "$pid" >"$PID_FILE"
    start_relay

    wait_until_ready "$pid"
    report_ready "$pid"
}

# Each connection to 127.0.0.1:PORT gets its own socat inside the namespace, which
# connects to the server there.
start_relay() {
    (
        exec setsid socat "$RELAY_LISTEN" "$RELAY_CONNECT" >>"$RELAY_LOG" 2>&1 </dev/null 8>&- 9>&-
    ) &
    echo "$!" >"$RELAY_PID_FILE"
}

# Stops the instance if it runs, then removes whatever it left behind: processes,
# the relay, the namespace, the pid files and the data directory.
terminate() {
    local pid relay deadline
    # The relay first: its per-connection processes live in the namespace too.
    if relay=$(relay_pid); then
        kill -TERM -- "-$relay" 2>/dev/null || true
    fi
    if pid=$(server_pid); then
        # The launcher stops the server on SIGINT. On SIGTERM it would die alone and
        # leave the server running.
        kill -INT "$pid" 2>/dev/null || true
        deadline=$((SECONDS + STOP_TIMEOUT_S))
        while ((SECONDS < deadline)); do
            # shellcheck disable=SC2046 # a list of pids
            any_alive "$pid" $(namespace_exists && ip netns pids "$NETNS" 2>/dev/null) || break
            sleep 0.1
        done
    fi

    local leftovers
    mapfile -t leftovers < <(instance_pids | sort -un)
    if ((${#leftovers[@]})); then
        kill -KILL "${leftovers[@]}" 2>/dev/null || true
        deadline=$((SECONDS + 5))
        while any_alive "${leftovers[@]}" && ((SECONDS < deadline)); do
            sleep 0.1
        done
        ! any_alive "${leftovers[@]}" || echo "milvus: some processes of the instance survived SIGKILL: ${leftovers[*]}" >&2
    fi

    if namespace_exists; then
        ip netns delete "$NETNS" 2>/dev/null || echo "milvus: cannot delete the network namespace $NETNS" >&2
    fi
    rm -f "$PID_FILE" "$RELAY_PID_FILE"
    rm -rf "$DATA"
}

stop() {
    need_root
    if [[ ! -d $INSTANCE ]] && ! namespace_exists; then
        echo "milvus: not running on port $PORT"
        return
    fi
    lock_instance
    if server_pid >/dev/null; then
        terminate
        echo "milvus stopped: 127.0.0.1:$PORT"
    else
        terminate
        echo "milvus: not running on port $PORT"
    fi
}

status() {
    local pid
    if pid=$(server_pid) && relay_pid >/dev/null && ready; then
        report_ready "$pid"
        return 0
    fi
    echo "milvus: not ready on port $PORT"
    return 1
}

case ${1:-} in
start) start ;;
stop) stop ;;
status) status ;;
*)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
