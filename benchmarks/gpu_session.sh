#!/usr/bin/env bash
# The GPU measurements of docs/performance.md in one call (a few minutes on an H100 or H200):
#   bash benchmarks/gpu_session.sh OUT_DIR
# Writes OUT_DIR/log.txt (every table) and one JSON per stage. Stages run most important
# first, each under its own time limit, so that a cut-short session still reports something.
# TINY=1 DEVICE=cpu runs the same stages on the tiny smoke networks (a dry run of this script).
set -u
out=${1:?usage: gpu_session.sh OUT_DIR}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
device=${DEVICE:-cuda}
python=${PYTHON:-python3}
log="$out/log.txt"

stage() {  # stage NAME SECONDS ARGS...
    local name=$1 limit=$2
    shift 2
    local size=()
    if [ "${TINY:-0}" = 1 ]; then size=(--tiny --threads 1); limit=$((limit * 3)); fi
    echo "=== $name: $*" >>"$log"
    timeout "$limit" "$python" benchmarks/step_time.py --device "$device" "${size[@]}" "$@" \
        --json "$out/$name.json" >>"$log" 2>&1
    echo "=== $name exit $?" >>"$log"
}

{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || true
  "$python" -c "import torch; print('torch', torch.__version__)"; } >>"$log" 2>&1

all=search,reference,reference_r1,random,cycle
# 1. 1024 px, exact fp32 against bf16 mixed precision: times, memory, FLOP rate, profiles.
stage r1024 110 --resolution 1024 --compare fp32 bf16 --steps "$all" --repeats 3 --warmup 1 \
    --profile-rows 15
# 2. The memory-saving modes under a hard 12 GiB cap (a 12 GB card), with the live-tensor
#    counter beside max_memory_allocated (calibrates the CPU estimates of docs/performance.md).
stage m1024 60 --resolution 1024 --compare bf16,micro_batch=4 bf16,micro_batch=4,clip_size=160 \
    --memory-limit-gib 12 --steps search,reference_r1,random --repeats 2 --warmup 1 \
    --no-profile --no-flops --tensor-memory
# 3. 256 px, fp32 against bf16.
stage r256 40 --resolution 256 --compare fp32 bf16 --steps "$all" --repeats 5 --warmup 2 \
    --profile-rows 12
# 4. 256 px: everything the reference implementation wasted put back, against our fp32.
stage n256 35 --resolution 256 --compare naive fp32 --steps search,reference,random \
    --repeats 5 --warmup 2 --no-profile
# 5. 256 px: what each optimisation buys (fp32 plus one waste item at a time).
stage a256 40 --resolution 256 --config fp32 --ablate --steps reference,random --repeats 3 \
    --warmup 1 --no-profile --no-flops
# 6. 256 px: torch.compile (compile = true) against eager on the search step (one graph; each
#    fine-tuning kind compiles several, minutes of device time); the warm-up steps compile.
stage c256 150 --resolution 256 --compare fp32 fp32,compile --steps search \
    --repeats 5 --warmup 2 --no-profile --no-flops
grep -E "^(===|\| |  [a-z_]+ +[a-z0-9_,=+.]+ +[0-9.]+x| +[a-z0-9_,=+.]+ +[0-9.]+ min|Estimated|Ratios|CUDA|NVIDIA|torch)" "$log"
