#!/usr/bin/env bash
# A local Triton Inference Server for facebank's development and tests: the real
# tritonserver binary that PyPI's nvidia-pytriton carries, serving the models of
# models/ on the CPU through Triton's Python backend (deploy/triton/python/model.py).
# Production serves the same repository with the ONNX Runtime backend instead
# (deploy/triton/README.md).
#
#   scripts/triton.sh start    install on first use, start, wait until both models are ready
#   scripts/triton.sh stop     stop the instance (SIGTERM; SIGKILL after 15 s)
#   scripts/triton.sh status   exit 0 when the instance is up and both models are ready
#   scripts/triton.sh repo     (re)build the instance's model repository and print its path
#
# Settings, from the environment:
#   TRITON_GRPC_PORT       gRPC port on 127.0.0.1 (default 8001); it names the instance
#   TRITON_HTTP_PORT       HTTP port on 127.0.0.1 (default 8000)
#   FACEBANK_SERVICES_DIR  where the environment and the instances live
#                          (default <repository>/target/services)
#   TRITON_CPU_INSTANCES   instances of each model (default 1)
#   TRITON_CPU_THREADS     threads one model run may use (default 1)
#   PYTHON                 the Python (3.8 to 3.13) that builds the environment (default python3)
#
# Instances on different gRPC ports share nothing but the installed environment:
# each has its own directory, triton-<gRPC port>, with its repository, log and pid file.
set -euo pipefail
set +m # no job control: the server must stay in this script's process group until setsid

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GRPC_PORT=${TRITON_GRPC_PORT:-8001}
HTTP_PORT=${TRITON_HTTP_PORT:-8000}
SERVICES=${FACEBANK_SERVICES_DIR:-$ROOT/target/services}
CPU_INSTANCES=${TRITON_CPU_INSTANCES:-1}
CPU_THREADS=${TRITON_CPU_THREADS:-1}
PYTHON=${PYTHON:-python3}

MODELS=(retinaface_mnv2 dlib_face_recognition_resnet_v1)
# onnxruntime 1.19.2 has cp38 to cp312 manylinux wheels and runs with numpy 1.x,
# which pytriton needs.
REQUIREMENTS=(nvidia-pytriton==0.7.0 onnxruntime==1.19.2 "numpy<2")
READY_TIMEOUT_S=90
STOP_TIMEOUT_S=15

die() {
    echo "triton: $*" >&2
    exit 1
}

for number in "$GRPC_PORT" "$HTTP_PORT" "$CPU_INSTANCES" "$CPU_THREADS"; do
    [[ $number =~ ^[1-9][0-9]*$ ]] || die "not a positive whole number: '$number'"
done
[[ $GRPC_PORT != "$HTTP_PORT" ]] || die "TRITON_GRPC_PORT and TRITON_HTTP_PORT are both $GRPC_PORT"

mkdir -p "$SERVICES"
SERVICES=$(cd "$SERVICES" && pwd)
VENV=$SERVICES/triton-venv
INSTALLED=$VENV/.installed # written last, by an install that completed
INSTANCE=$SERVICES/triton-$GRPC_PORT
REPOSITORY=$INSTANCE/repository
PID_FILE=$INSTANCE/triton.pid
HTTP_PORT_FILE=$INSTANCE/http.port
LOG=$INSTANCE/triton.log
# The Python backend's shared-memory regions in /dev/shm carry this prefix, so a
# killed instance's regions can be found and removed.
SHM_PREFIX=facebank_triton_${GRPC_PORT}_

# --- installation (once, shared by every instance) ---------------------------

install() {
    exec 8>"$SERVICES/triton-venv.lock"
    flock 8
    if [[ -f $INSTALLED && $(<"$INSTALLED") == "${REQUIREMENTS[*]}" ]]; then
        exec 8>&-
        return
    fi

    echo "triton: installing ${REQUIREMENTS[*]} into $VENV" >&2
    local log=$SERVICES/triton-install.log
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV" >"$log" 2>&1 ||
        die "$PYTHON cannot create a virtual environment (on Debian: apt-get install python3-venv); see $log"
    "$VENV/bin/pip" install --disable-pip-version-check --no-input "${REQUIREMENTS[@]}" >>"$log" 2>&1 || {
        tail -n 20 "$log" >&2
        die "pip install failed; see $log"
    }
    assemble_backend
    echo "${REQUIREMENTS[*]}" >"$INSTALLED"
    exec 8>&-
}

# Triton looks for a backend's files, the Python backend's stub included, in one
# directory; the package keeps the stubs apart, one per Python version.
assemble_backend() {
    local site package libs libdir version
    site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    version=$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    libdir=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))')
    package=$site/pytriton/tritonserver
    libs=$site/nvidia_pytriton.libs
    [[ -x $package/bin/tritonserver ]] || die "no tritonserver in $package"
    [[ -f $package/python_backend_stubs/$version/triton_python_backend_stub ]] ||
        die "nvidia-pytriton has no Python backend stub for Python $version"

    local backend=$VENV/backends/python
    mkdir -p "$backend"
    cp "$package/backends/python/libtriton_python.so" \
        "$package/backends/python/triton_python_backend_utils.py" \
        "$package/python_backend_stubs/$version/triton_python_backend_stub" "$backend/"

    # The stub must load the environment's libpython, not the system's: a
    # mismatch fails every model with an _thread.RLock error.
    local library_path=$libs:$libdir
    if LD_LIBRARY_PATH=$library_path ldd "$backend/triton_python_backend_stub" | grep -q 'not found'; then
        die "the Python backend stub lacks libpython$version (on Debian: apt-get install libpython$version)"
    fi

    cat >"$VENV/triton.env" <<EOF
TRITON_BIN='$package/bin/tritonserver'
TRITON_BACKENDS='$VENV/backends'
TRITON_LIBRARY_PATH='$library_path'
EOF
}

# --- the model repository ------------------------------------------------------

# The production configurations name the ONNX Runtime backend and GPU instances;
# the local ones keep their inputs, outputs and batching and swap those for the
# Python backend on the CPU.
derive_config() {
    "$PYTHON" - "$1" "$CPU_INSTANCES" "$CPU_THREADS" <<'PY'
import re
import sys

source, instances, threads = sys.argv[1], sys.argv[2], sys.argv[3]
with open(source) as file:
    # The comments speak of the production setup. (No '#' appears inside a
    # string in these files.)
    lines = [line.rstrip() for line in file if not line.lstrip().startswith("#")]
    text = "\n".join(line.split("#", 1)[0].rstrip() for line in lines)


def drop(text, field):
    """Removes every `field [...]`, `field {...}` or `field: {...}`, nesting included."""
    pattern = re.compile(r"\b%s\s*:?\s*([\[{])" % field)
    while match := pattern.search(text):
        depth, end = 0, match.start(1)
        while True:
            depth += {"[": 1, "{": 1, "]": -1, "}": -1}.get(text[end], 0)
            end += 1
            if depth == 0:
                break
        text = text[: match.start()] + text[end:]
    return text


engine = re.compile(r'^\s*(backend|platform)\s*:\s*"[^"]*"\s*$', re.M)
if len(engine.findall(text)) != 1:
    sys.exit(f"{source}: expected exactly one backend or platform line")
text = engine.sub('backend: "python"', text)
for field in ("instance_group", "parameters", "optimization", "model_warmup"):
    text = drop(text, field)
text = re.sub(r"\n{3,}", "\n\n", text).strip()

print(f"# Derived by scripts/triton.sh from {source}")
print("# for Triton's Python backend on the CPU.")
print(text)
print()
print(f"instance_group [ {{ count: {instances} kind: KIND_CPU }} ]")
print(f'parameters {{ key: "intra_op_thread_count" value: {{ string_value: "{threads}" }} }}')
PY
}

build_repository() {
    local next=$INSTANCE/repository.next model
    rm -rf "$next"
    for model in "${MODELS[@]}"; do
        local onnx=$ROOT/models/$model.onnx
        [[ -f $onnx ]] || die "missing $onnx"
        mkdir -p "$next/$model/1"
        (cd "$ROOT" && derive_config "deploy/triton/models/$model/config.pbtxt") >"$next/$model/config.pbtxt"
        cp "$ROOT/deploy/triton/python/model.py" "$next/$model/1/model.py"
        ln -s "$onnx" "$next/$model/1/model.onnx"
    done
    rm -rf "$REPOSITORY"
    mv "$next" "$REPOSITORY"
}

# --- the running instance --------------------------------------------------------

lock_instance() {
    mkdir -p "$INSTANCE"
    exec 9>"$INSTANCE/lock"
    flock 9
}

# Prints the pid of this instance's server if it is running. A pid file whose
# process is gone, or is now some other program, does not count.
server_pid() {
    local pid
    [[ -f $PID_FILE ]] || return 1
    pid=$(<"$PID_FILE")
    [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "--model-repository=$REPOSITORY " || return 1
    echo "$pid"
}

# A process that has exited but not been reaped yet (the server is this script's
# child until the script ends) counts as gone.
alive() {
    local state
    state=$(sed -n 's/^.*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null) && [[ -n $state && $state != Z ]]
}

models_ready() {
    local port=$1 model
    for model in "${MODELS[@]}"; do
        curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$port/v2/models/$model/ready" || return 1
    done
}

port_taken() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

report_ready() {
    echo "triton ready: grpc 127.0.0.1:$GRPC_PORT, http 127.0.0.1:$1 (pid $2)"
}

wait_until_ready() {
    local pid=$1 deadline=$((SECONDS + READY_TIMEOUT_S))
    while ((SECONDS < deadline)); do
        if ! alive "$pid"; then
            fail_start "tritonserver exited during start"
        fi
        if models_ready "$HTTP_PORT"; then
            return
        fi
        sleep 0.2
    done
    fail_start "the models were not ready within ${READY_TIMEOUT_S} s"
}

fail_start() {
    echo "triton: $1; the end of $LOG:" >&2
    tail -n 30 "$LOG" >&2 || true
    terminate
    exit 1
}

start() {
    install
    lock_instance

    local pid
    if pid=$(server_pid); then
        local running_http
        running_http=$(<"$HTTP_PORT_FILE")
        [[ $running_http == "$HTTP_PORT" ]] ||
            die "the instance on gRPC port $GRPC_PORT already runs with HTTP port $running_http"
        wait_until_ready "$pid"
        report_ready "$HTTP_PORT" "$pid"
        return
    fi
    terminate # whatever a killed or crashed instance left behind

    local port
    for port in "$GRPC_PORT" "$HTTP_PORT"; do
        ! port_taken "$port" || die "port $port on 127.0.0.1 is already in use"
    done

    build_repository
    # shellcheck source=/dev/null
    source "$VENV/triton.env"
    : >"$LOG"
    (
        cd "$INSTANCE"
        # The stub takes its sys.prefix from the python3 first on PATH.
        export PATH=$VENV/bin:$PATH
        export LD_LIBRARY_PATH=$TRITON_LIBRARY_PATH${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
        # Its own session: it outlives this script and the caller's terminal, and
        # it and its stubs can be signalled as one process group.
        exec setsid "$TRITON_BIN" \
            --model-repository="$REPOSITORY" \
            --backend-directory="$TRITON_BACKENDS" \
            --backend-config=python,shm-region-prefix-name="$SHM_PREFIX" \
            --grpc-address=127.0.0.1 --grpc-port="$GRPC_PORT" \
            --http-address=127.0.0.1 --http-port="$HTTP_PORT" \
            --allow-metrics=false \
            --exit-timeout-secs=10 \
            >>"$LOG" 2>&1 </dev/null 8>&- 9>&-
    ) &
    pid=$!
    echo "$pid" >"$PID_FILE"
    echo "$HTTP_PORT" >"$HTTP_PORT_FILE"

    wait_until_ready "$pid"
    report_ready "$HTTP_PORT" "$pid"
}

# Stops the server if it runs, then removes what it leaves behind.
terminate() {
    local pid last=
    [[ -f $PID_FILE ]] && last=$(<"$PID_FILE")
    if pid=$(server_pid); then
        kill -TERM "$pid" 2>/dev/null || true
        local deadline=$((SECONDS + STOP_TIMEOUT_S))
        while alive "$pid" && ((SECONDS < deadline)); do
            sleep 0.1
        done
        # The process group holds the server and its Python stubs.
        kill -KILL -- "-$pid" 2>/dev/null || true
        deadline=$((SECONDS + 5))
        while alive "$pid" && ((SECONDS < deadline)); do
            sleep 0.1
        done
    fi
    # Stubs of a server that was killed alone keep running for a while.
    if [[ $last =~ ^[0-9]+$ ]]; then
        local member
        for member in $(pgrep -g "$last" || true); do
            if tr '\0' ' ' <"/proc/$member/cmdline" 2>/dev/null | grep -qF -- "$REPOSITORY/"; then
                kill -KILL "$member" 2>/dev/null || true
            fi
        done
    fi
    rm -f "$PID_FILE" "$HTTP_PORT_FILE"
    rm -f /dev/shm/"$SHM_PREFIX"*
}

stop() {
    [[ -d $INSTANCE ]] || {
        echo "triton: not running on gRPC port $GRPC_PORT"
        return
    }
    lock_instance
    if server_pid >/dev/null; then
        terminate
        echo "triton stopped: grpc 127.0.0.1:$GRPC_PORT"
    else
        terminate
        echo "triton: not running on gRPC port $GRPC_PORT"
    fi
}

status() {
    local pid http
    if pid=$(server_pid) && http=$(<"$HTTP_PORT_FILE") && models_ready "$http"; then
        report_ready "$http" "$pid"
        return 0
    fi
    echo "triton: not ready on gRPC port $GRPC_PORT"
    return 1
}

case ${1:-} in
start) start ;;
stop) stop ;;
status) status ;;
repo)
    lock_instance
    build_repository
    echo "$REPOSITORY"
    ;;
*)
    echo "usage: $0 start|stop|status|repo" >&2
    exit 2
    ;;
esac
