#!/usr/bin/env bash
# A private MariaDB server on a loopback port, for the tests that stop and start
# the database under a running facebank (the machine's own server on 3306 must
# stay up for everything else).
#
#   scripts/mariadb.sh start    initialise the data directory on first use, start, wait until ready
#   scripts/mariadb.sh stop     stop the instance (SIGTERM; SIGKILL after 20 s); its data stays
#   scripts/mariadb.sh status   exit 0 when the instance answers on 127.0.0.1:MARIADB_PORT
#
# Settings, from the environment:
#   MARIADB_PORT           TCP port on 127.0.0.1 (default 13306); it names the instance
#   FACEBANK_SERVICES_DIR  where the instances live (default <repository>/target/services)
#
# The instance is mariadb-<port>/ there: data, socket, pid and log files. Its root
# user has no password and is reachable only through 127.0.0.1. Needs the mariadbd
# and mariadb-install-db of Debian's mariadb-server package.
set -euo pipefail
set +m

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PORT=${MARIADB_PORT:-13306}
SERVICES=${FACEBANK_SERVICES_DIR:-$ROOT/target/services}
READY_TIMEOUT_S=60
STOP_TIMEOUT_S=20

die() {
    echo "mariadb: $*" >&2
    exit 1
}

[[ $PORT =~ ^[1-9][0-9]*$ ]] && ((PORT <= 65535)) || die "MARIADB_PORT is not a port number: '$PORT'"
mkdir -p "$SERVICES"
SERVICES=$(cd "$SERVICES" && pwd)
DIR=$SERVICES/mariadb-$PORT
PIDFILE=$DIR/mariadbd.pid

answers() {
    mariadb --protocol=tcp -h 127.0.0.1 -P "$PORT" -u root --connect-timeout=2 \
        -e 'SELECT 1' >/dev/null 2>&1
}

running_pid() {
    [[ -s $PIDFILE ]] || return 1
    local pid
    pid=$(<"$PIDFILE")
    kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

start() {
    command -v mariadbd >/dev/null || PATH=$PATH:/usr/sbin
    command -v mariadbd >/dev/null || die "mariadbd is not installed (Debian: apt-get install mariadb-server)"
    if running_pid >/dev/null && answers; then
        return 0
    fi
    mkdir -p "$DIR"
    if [[ ! -d $DIR/data/mysql ]]; then
        rm -rf "$DIR/data"
        mariadb-install-db --no-defaults --user="$(id -un)" --datadir="$DIR/data" \
            --auth-root-authentication-method=normal --skip-test-db \
            >"$DIR/install.log" 2>&1 || die "mariadb-install-db failed; see $DIR/install.log"
    fi
    setsid mariadbd --no-defaults --user="$(id -un)" --datadir="$DIR/data" \
        --bind-address=127.0.0.1 --port="$PORT" --socket="$DIR/mariadbd.sock" \
        --pid-file="$PIDFILE" --log-error="$DIR/mariadbd.log" \
        --skip-name-resolve --innodb-buffer-pool-size=32M --max-connections=200 \
        </dev/null >/dev/null 2>&1 &
    local waited=0
    until answers; do
        sleep 0.5
        waited=$((waited + 1))
        ((waited < READY_TIMEOUT_S * 2)) || die "not ready after ${READY_TIMEOUT_S} s; see $DIR/mariadbd.log"
    done
}

stop() {
    local pid
    pid=$(running_pid) || return 0
    kill -TERM "$pid" 2>/dev/null || true
    local waited=0
    while kill -0 "$pid" 2>/dev/null; do
        sleep 0.5
        waited=$((waited + 1))
        if ((waited >= STOP_TIMEOUT_S * 2)); then
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
    done
}

case ${1:-} in
start) start ;;
stop) stop ;;
status) answers ;;
*) die "usage: $0 start|stop|status" ;;
esac
