#!/usr/bin/env bash
# One prepared check of modegan on a machine with an NVIDIA GPU, in under 8 minutes, everything written to
# $OUT/gpu_check.txt (OUT defaults to ./gpu_check_out). Run from the repository root:
#
#     bash benchmarks/gpu_check.sh                   # on the GPU machine
#     DEVICE=cpu QUICK=1 bash benchmarks/gpu_check.sh  # dry run of the same steps on a CPU (~2 minutes)
#     PY=/path/to/python ...                           # use that python as it is (no set-up)
#
# Steps, each under its own `timeout` and a shared deadline (TOTAL_S, default 450 s); every step's exit code is
# recorded and the script carries on after a failing one:
#   1. nvidia-smi
#   2. the Python environment: .venv from `make install` if it is missing; if that fails (or its torch cannot
#      see the GPU) the system python3 with `pip install -e .` (then `--no-deps`, for a machine without an
#      index); src/ is on PYTHONPATH either way
#   3. torch, CUDA and the device as that python sees them
#   4. pytest -q -x -m 'not slow' --device $DEVICE on the device-relevant test files (the --device option
#      is the one tests/conftest.py takes; without it the tests run on their default device, and the log says so)
#   5. benchmarks/throughput.py --device $DEVICE for a few presets (its table also to $OUT/throughput.csv)
#   6. the same at a large batch, where a GPU is busy (not with QUICK=1)
# The exit status is the number of failed steps (0: all passed).
set -u

DEVICE=${DEVICE:-cuda}
QUICK=${QUICK:-0}
OUT=${OUT:-./gpu_check_out}
TOTAL_S=${TOTAL_S:-450}
mkdir -p "$OUT"
LOG="$OUT/gpu_check.txt"
: >"$LOG"
exec > >(tee -a "$LOG") 2>&1
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
export PIP_DISABLE_PIP_VERSION_CHECK=1

declare -a SUMMARY=()
FAILED=0

left() { echo $((TOTAL_S - SECONDS)); }

# step NAME LIMIT_S CMD...: run CMD under timeout min(LIMIT_S, time left), record its exit code.
step() {
    local name=$1 limit=$2
    shift 2
    local remaining
    remaining=$(left)
    if ((remaining < 10)); then
        echo "=== $name: skipped (the ${TOTAL_S} s deadline is reached)"
        SUMMARY+=("$name: skipped (deadline)")
        FAILED=$((FAILED + 1))
        return 0
    fi
    ((limit > remaining)) && limit=$remaining
    echo
    echo "=== $name (limit ${limit} s) $(date -u +%H:%M:%S)"
    echo "+ $*"
    local t0=$SECONDS rc
    timeout --kill-after=10 "$limit" "$@"
    rc=$?
    local took=$((SECONDS - t0))
    case $rc in
        0) SUMMARY+=("$name: ok (${took} s)") ;;
        124 | 137) SUMMARY+=("$name: TIMED OUT after ${took} s (rc $rc)"); FAILED=$((FAILED + 1)) ;;
        *) SUMMARY+=("$name: FAILED rc $rc (${took} s)"); FAILED=$((FAILED + 1)) ;;
    esac
    echo "=== $name: rc $rc, ${took} s"
    return 0
}

echo "gpu_check $(date -u +%Y-%m-%dT%H:%M:%SZ) DEVICE=$DEVICE QUICK=$QUICK OUT=$OUT host $(hostname) $(nproc) cores"
git log -1 --oneline 2>/dev/null || true

# 1. the GPU
if command -v nvidia-smi >/dev/null; then
    step "nvidia-smi" 30 nvidia-smi
else
    echo "=== nvidia-smi: not found"
    SUMMARY+=("nvidia-smi: not found")
    [[ $DEVICE == cuda ]] && FAILED=$((FAILED + 1))
fi

# 2. the environment
usable() {  # usable PYTHON: imports modegan; on cuda, also sees the GPU
    "$1" - "$DEVICE" <<'EOF' >/dev/null 2>&1
import sys
import torch
import modegan  # noqa: F401
sys.exit(0 if sys.argv[1] != "cuda" or torch.cuda.is_available() else 1)
EOF
}
PY=${PY:-}  # a python to use as it is (skips the set-up)
if [[ -n $PY ]]; then
    echo "=== python given: $PY"
elif [[ ! -x .venv/bin/python ]]; then
    step "make install" 200 make install
fi
if [[ -n $PY ]]; then
    :
elif [[ -x .venv/bin/python ]] && usable .venv/bin/python; then
    PY=.venv/bin/python
else
    echo "=== .venv is missing or cannot run modegan on $DEVICE: falling back to the system python3"
    step "pip install -e ." 90 python3 -m pip install -q -e .
    usable python3 || step "pip install -e . --no-deps" 60 python3 -m pip install -q --no-deps -e .
    if usable python3; then
        PY=python3
    elif [[ -x .venv/bin/python ]]; then
        PY=.venv/bin/python  # its torch may be CPU-only: the checks below show it
    else
        PY=python3
    fi
fi
echo "=== python: $PY"

# 3. what that python sees
step "torch and device" 60 "$PY" - "$DEVICE" <<'EOF'
import sys
import torch
dev = sys.argv[1]
print("python", sys.version.split()[0], "torch", torch.__version__, "cuda build", torch.version.cuda,
      "cuda available", torch.cuda.is_available(), "threads", torch.get_num_threads())
if dev == "cuda" and torch.cuda.is_available():
    print("device", torch.cuda.get_device_name(0), "capability", torch.cuda.get_device_capability(0))
    a = torch.randn(4096, 4096, device="cuda")
    torch.cuda.synchronize()
    import time
    t = time.perf_counter()
    for _ in range(20):
        a @ a
    torch.cuda.synchronize()
    print(f"fp32 4096^3 matmul: {20 * 2 * 4096**3 / (time.perf_counter() - t) / 1e12:.1f} TFLOP/s")
sys.exit(0 if dev != "cuda" or torch.cuda.is_available() else 1)
EOF

# 4. the tests that exercise the networks, losses and steps on the device
if ((QUICK)); then
    TESTS=(tests/test_flops.py tests/test_components.py tests/test_losses.py)
else
    TESTS=(tests/test_flops.py tests/test_components.py tests/test_losses.py tests/test_packing.py
           tests/test_unrolled.py tests/test_veegan.py tests/test_batched.py tests/test_train.py
           tests/test_image_nets.py tests/test_diwgan.py)
fi
[[ -f tests/test_device.py ]] && TESTS=(tests/test_device.py "${TESTS[@]}")  # the tests that take --device
DEVICE_OPT=(--device "$DEVICE")
if ! "$PY" -m pytest --help 2>/dev/null | grep -q -- "--device"; then
    echo "=== tests/conftest.py has no --device option yet: the tests run on their default device"
    DEVICE_OPT=()
fi
step "pytest" 120 "$PY" -m pytest -q -x -m "not slow" -p no:cacheprovider "${DEVICE_OPT[@]}" "${TESTS[@]}"

# 5-6. throughput
if ((QUICK)); then
    step "throughput" 90 "$PY" benchmarks/throughput.py --device "$DEVICE" --presets gan,wgan-gp,unrolled \
        --seeds 3 --steps 5 --repeats 2 --csv "$OUT/throughput.csv"
else
    step "throughput" 100 "$PY" benchmarks/throughput.py --device "$DEVICE" --presets gan,wgan-gp,unrolled,veegan,pacgan2 \
        --steps 20 --repeats 3 --csv "$OUT/throughput.csv"
    step "throughput, batch 4096" 45 "$PY" benchmarks/throughput.py --device "$DEVICE" --presets gan,wgan-gp \
        --batch 4096 --steps 10 --repeats 3 --csv "$OUT/throughput_b4096.csv"
fi

# 7. one DCGAN Stacked-MNIST epoch, fp32 against bf16 (extrapolated from timed blocks)
if ((QUICK)); then
    step "image epoch" 60 "$PY" benchmarks/image_epoch.py --device "$DEVICE" --steps 2 --repeats 1
else
    step "image epoch" 60 "$PY" benchmarks/image_epoch.py --device "$DEVICE" --steps 50 --repeats 3
fi

# 8. a timed suite: the seven presets of Table 1 x 4 mixtures x 10 seeds, a short budget, 8 workers; its wall
# time x (50,000 / steps) bounds the converged table's (evaluations excluded from neither)
SUITE_STEPS=$(( QUICK ? 20 : 1000 ))
SUITE_DIR=$(mktemp -d)
step "timed suite ($SUITE_STEPS steps)" 150 "$PY" -m modegan bench mog --device "$DEVICE" \
    --methods gan,wgan-gp-toy,iwgan,diwgan,unrolled,veegan,pacgan2 --datasets ring8,grid25,grid25-random,cube27 \
    --seeds $(( QUICK ? 2 : 10 )) --steps "$SUITE_STEPS" --workers $(( QUICK ? 2 : 8 )) --out "$SUITE_DIR"
cp "$SUITE_DIR/results.md" "$OUT/suite_results.md" 2>/dev/null || true

echo
echo "=== summary ($SECONDS s, $FAILED failed)"
for line in "${SUMMARY[@]}"; do
    echo "  $line"
done
exit "$FAILED"
