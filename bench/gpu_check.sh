#!/usr/bin/env bash
# The GPU check, as one script: the GPU tests, a full run on CPU and GPU, a short CPU/GPU sweep, the report.
#
#   bench/gpu_check.sh [OUT_DIR]        # default results/gpu; PYTHON=... picks the interpreter
#
# Installs the checkout into the interpreter first (`pip install --no-deps --no-build-isolation -e .`:
# no download, so it works on a machine without internet) so `python -m xorbench` runs; it needs
# setuptools, numpy, pandas, scipy, matplotlib, rich, psutil, threadpoolctl, pytest,
# pytest-benchmark and pytest-timeout importable, plus torch with CUDA and/or CuPy (and/or JAX);
# TensorFlow and numba are optional (their rows are skipped with the reason). Each step has a
# time limit and the script goes on after a failed step, so one broken path cannot hide the
# others; the exit status is that of the first failed step.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-results/gpu}
py=${PYTHON:-python3}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
status=0

step() {  # step NAME SECONDS COMMAND...: run it, log to $out/NAME.log, remember the first failure
    local name=$1 limit=$2 rc
    shift 2
    echo "== $name: $*"
    timeout "$limit" "$@" 2>&1 | tee "$out/$name.log"
    rc=$?
    echo "== $name: exit $rc"
    if [ "$rc" -ne 0 ] && [ "$status" -eq 0 ]; then status=$rc; fi
}

# Limits add up to 9 minutes, under the 10 a lent GPU machine allows one command.
step gpu 10 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
step install 60 "$py" -m pip install --no-deps --no-build-isolation -q -e .
step tests 150 "$py" -m pytest tests/test_gpu.py bench/benchmarks --benchmark-disable -q -rs -p no:cacheprovider
step run 240 "$py" -m xorbench run --devices auto --out "$out"
step sweep 110 "$py" -m xorbench sweep --devices cpu,gpu --quick --out "$out"
step report 30 "$py" -m xorbench report --out "$out"
exit $status
