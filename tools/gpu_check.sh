#!/usr/bin/env bash
# The GPU checks in one command, on a machine with an NVIDIA GPU:
#
#   tools/gpu_check.sh [LOG]          (default LOG: gpu_check.log in the repository root)
#
# 1. the whole pytest suite with CUDA visible (notebooks included, in fast mode);
# 2. lesson 20 on its own in fast mode (LLMCOURSE_FAST=1), so its result stands apart in the log;
# 3. the command line on --device cuda: train the tiny preset a few steps, generate from it;
# 4. benchmarks/bench_train.py --cuda --memorise: nanoGPT's GPU recipe, the bare step and whole
#    training loops against nanoGPT (set NANOGPT_DIR to a folder with nanoGPT's model.py to compare
#    with nanoGPT's own model; BENCH_STEPS sets the loops' length, default 2000).
#
# Every command's output goes to LOG; each check prints one line (ok or FAILED). Exit status: 0 when
# every check passed, 1 when one failed, 3 (after one line) where PyTorch sees no CUDA GPU.
# PYTHON picks the interpreter (default: python3).
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
LOG=${1:-gpu_check.log}
if ! "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    echo "gpu_check: PyTorch sees no CUDA GPU here (torch.cuda.is_available() is False); nothing checked."
    exit 3
fi
: > "$LOG"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
failed=0
check() {  # check NAME COMMAND...: run it, output to the log, one line on the terminal
    local name=$1
    shift
    echo "== $name: $*" >> "$LOG"
    local t0=$SECONDS
    if "$@" >> "$LOG" 2>&1; then
        echo "ok      $name ($((SECONDS - t0)) s)"
    else
        echo "FAILED  $name ($((SECONDS - t0)) s; see $LOG)"
        failed=1
    fi
}
"$PY" -c "import torch; print('gpu_check:', torch.cuda.get_device_name(0), 'torch', torch.__version__)" | tee -a "$LOG"
check "pytest, whole suite, CUDA visible" "$PY" -m pytest -p no:cacheprovider -q
check "lesson 20, fast mode" env LLMCOURSE_FAST=1 "$PY" -m pytest -p no:cacheprovider -q -n0 \
    notebooks/20_complete_pipeline.ipynb
check "CLI train --device cuda" "$PY" -m llmcourse train --preset tiny --device cuda --max-iters 30 \
    --eval-interval 10 --out "$TMP/run" --no-progress
check "CLI generate --device cuda" "$PY" -m llmcourse generate --checkpoint "$TMP/run" --device cuda --tokens 40
bench=("$PY" benchmarks/bench_train.py --cuda --memorise --steps "${BENCH_STEPS:-2000}")
if [ -n "${NANOGPT_DIR:-}" ]; then
    bench+=(--nanogpt-dir "$NANOGPT_DIR")
fi
check "throughput benchmark (bench_train.py --cuda)" "${bench[@]}"
echo "gpu_check: $([ $failed = 0 ] && echo 'all checks passed' || echo 'some checks FAILED'); log in $LOG"
exit $failed
