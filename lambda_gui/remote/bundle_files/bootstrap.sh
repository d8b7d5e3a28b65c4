#!/usr/bin/env bash
# Sets up Python for a training job and runs train.py, from the job dir this file lies in.
#
# Started detached by a fixed command (see lambda_gui/remote/bundle.py START_COMMAND):
#   setsid nohup bash bootstrap.sh >> train.log 2>&1 < /dev/null &
# Writes: pid (this script's pid = its process group, for cancelling), exit_code (last).
# Exit codes (protocol.py's EXIT_CODES): those of train.py, 3 = the GPU is not usable,
# 4 = Python set-up failed, 130/143 = interrupted / cancelled.
# Nothing user-entered is interpolated here: user values live in config.json; tracker settings
# and secrets arrive in the environment (exported by START_COMMAND from its stdin, never
# written to disk or echoed).

set -u
cd "$(dirname "$0")" || exit 1
JOB_DIR=$(pwd)
echo $$ > pid

status() {
    # Fixed words only: every caller passes literals.
    printf 'LGUI_STATUS {"phase": "%s", "step": "%s"}\n' "$1" "$2"
}

finish() {
    if [ ! -f exit_code ]; then
        echo "$1" > exit_code.tmp && mv exit_code.tmp exit_code
    fi
    exit "$(head -n 1 exit_code)"
}

fail() {
    local code=$1
    shift
    echo "Error: $*" >&2
    printf 'LGUI_STATUS {"phase": "failed", "exit_code": %d, "error": "%s"}\n' "$code" "$*"
    finish "$code"
}

trap 'fail 143 "cancelled by SIGTERM"' TERM
trap 'fail 130 "interrupted by SIGINT"' INT

status setting_up start
echo "lambda-gui bootstrap: job dir $JOB_DIR on $(uname -n), $(date -u '+%Y-%m-%dT%H:%M:%SZ')"

# --- Python with everything train.py needs ---------------------------------------------------
VENV="$(cd "$JOB_DIR/../.." && pwd)/venv"  # ~/lambda-gui/venv, shared by the jobs of an instance
PY=$(command -v python3 || true)
[ -n "$PY" ] || fail 4 "python3 is not installed on this machine"

missing_for() {
    "$1" train.py --missing-requirements "$JOB_DIR"
}

if MISSING=$(missing_for "$PY" 2>/dev/null) && [ -z "$MISSING" ]; then
    echo "All packages are already installed for $PY: installing nothing."
elif [ -x "$VENV/bin/python" ] && MISSING=$(missing_for "$VENV/bin/python" 2>/dev/null) \
        && [ -z "$MISSING" ]; then
    PY="$VENV/bin/python"
    echo "Reusing $VENV: all packages are already installed there."
else
    status setting_up venv
    if [ ! -x "$VENV/bin/python" ]; then
        echo "Creating $VENV (with the system's packages, so the installed PyTorch is reused)."
        if ! "$PY" -m venv --system-site-packages "$VENV"; then
            rm -rf "$VENV"
            if command -v uv > /dev/null 2>&1; then
                uv venv --system-site-packages --python "$PY" "$VENV" || rm -rf "$VENV"
            elif sudo -n true 2> /dev/null; then
                if sudo -n apt-get install -y python3-venv > /dev/null; then
                    "$PY" -m venv --system-site-packages "$VENV" || rm -rf "$VENV"
                fi
            fi
        fi
    fi
    [ -x "$VENV/bin/python" ] || fail 4 "cannot create a Python venv: install python3-venv"
    VPY="$VENV/bin/python"
    if ! "$VPY" -c "import torch" 2> /dev/null; then
        # Lambda Stack images have PyTorch. Only the demo's simulated instances may lack it:
        # the app then names a wheel index (CPU builds) to install it from, once per venv.
        [ -n "${LGUI_TORCH_INDEX:-}" ] \
            || fail 4 "PyTorch is not installed: use an image with Lambda Stack"
        status setting_up install
        echo "Installing PyTorch from $LGUI_TORCH_INDEX into $VENV (once; reused afterwards)."
        "$VPY" -m pip install --disable-pip-version-check --index-url "$LGUI_TORCH_INDEX" torch \
            || fail 4 "PyTorch installation failed (see above)"
    fi
    MISSING=$(missing_for "$VPY") || fail 4 "train.py cannot check its requirements"
    if [ -n "$MISSING" ]; then
        status setting_up install
        # Pin the installed torch so that nothing we install replaces it.
        "$VPY" -c 'import torch; print("torch==" + torch.__version__)' > "$VENV/constraints.txt"
        mapfile -t SPECS <<< "$MISSING"
        echo "Installing: ${SPECS[*]}"
        if command -v uv > /dev/null 2>&1; then
            uv pip install --python "$VPY" -c "$VENV/constraints.txt" "${SPECS[@]}" \
                || fail 4 "package installation failed (see above)"
        else
            "$VPY" -m pip install --disable-pip-version-check -c "$VENV/constraints.txt" \
                "${SPECS[@]}" || fail 4 "package installation failed (see above)"
        fi
        MISSING=$(missing_for "$VPY") || fail 4 "train.py cannot check its requirements"
        [ -z "$MISSING" ] || fail 4 "packages still missing after installation: ${MISSING//$'\n'/ }"
    fi
    PY="$VPY"
fi
echo "Python: $PY"

# --- the GPU must really work before we spend money on it ---------------------------------
NGPU=0
if [ -n "${LGUI_SIMULATED_GPUS:-}" ]; then
    # Only lambda-gui's simulator sets this (lambda_gui/simulator/machine.py): its instances
    # have no GPU, and nvidia-smi there is its stand-in listing the type's GPUs.
    status setting_up cuda_check
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
    case "$LGUI_SIMULATED_GPUS" in
        '' | *[!0-9]* | 0)
            fail 3 "CUDA check failed: the simulated GPU count is not a positive number." ;;
    esac
    NGPU=$LGUI_SIMULATED_GPUS
    echo "CUDA check simulated: $NGPU GPU(s) on this simulated instance; PyTorch runs on its CPU."
elif command -v nvidia-smi > /dev/null 2>&1; then
    status setting_up cuda_check
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
    NGPU=$("$PY" - <<'EOF' | tail -n 1
import torch

if not torch.cuda.is_available():
    raise SystemExit("torch.cuda.is_available() is False")
count = torch.cuda.device_count()
for index in range(count):
    x = torch.randn(512, 512, device=f"cuda:{index}")
    if not torch.isfinite((x @ x).sum()).item():
        raise SystemExit(f"cuda:{index} returned a non-finite matmul result")
print(count)
EOF
    )
    case "$NGPU" in
        '' | *[!0-9]* | 0)
            fail 3 "CUDA check failed: the GPU is not usable from PyTorch. Terminate this instance and launch another." ;;
    esac
    echo "CUDA check passed on $NGPU GPU(s)."
fi

# --- train -------------------------------------------------------------------------------------
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
NPROC=$NGPU  # one training process per GPU
if [ -n "${LGUI_SIMULATED_GPUS:-}" ] && [ "$NGPU" -gt 1 ]; then
    # Simulated GPUs: one process per GPU on CPU, at most 2 and at most one per CPU core.
    CPUS=$(nproc 2> /dev/null || echo 1)
    NPROC=$((NGPU < 2 ? NGPU : 2))
    NPROC=$((NPROC < CPUS ? NPROC : CPUS))
    echo "simulated $NGPU GPUs: running $NPROC training processes on CPU (gloo)."
    if [ "$NPROC" -gt 1 ]; then
        # Without CUDA, accelerate's --multi_gpu launcher starts the processes but each trains
        # alone (distributed type NO); this makes them one gloo process group. The only
        # difference from a real instance's launch.
        export ACCELERATE_USE_CPU=true
        echo "accelerate's CPU switch: ACCELERATE_USE_CPU=true (no CUDA here); launcher and arguments as on a real instance."
    fi
fi
status setting_up ready
MULTI=0
if [ "$NPROC" -gt 1 ]; then
    LAUNCH=$("$PY" launcher.py --processes "$NPROC") || fail 4 "launcher.py cannot build the launch arguments"
    mapfile -t LAUNCH_ARGS <<< "$LAUNCH"
    echo "Launching $NPROC training processes: accelerate launch ${LAUNCH_ARGS[*]} train.py"
    MULTI=1
    "$PY" -m accelerate.commands.launch "${LAUNCH_ARGS[@]}" train.py "$JOB_DIR"
else
    "$PY" train.py "$JOB_DIR"
fi
RC=$?
if [ ! -f exit_code ] && [ "$MULTI" -eq 1 ]; then
    # Rank 0 ended without a result (killed while another process had failed): report the
    # error that process recorded, as rank 0 would have.
    "$PY" train.py --report-rank-failure "$JOB_DIR"
fi
if [ ! -f exit_code ]; then
    [ "$RC" -ne 0 ] || RC=1
    fail "$RC" "the training process ended with status $RC before writing its result"
fi
finish "$RC"
