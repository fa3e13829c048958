#!/usr/bin/env bash
# The GPU check in one run (< 8 minutes on an H200): bf16-vs-fp32 parity, training
# step benchmarks at 88x88x66 batch 64 (eager fp32, raw fast loop, Lightning fast end to end,
# then channels_last_3d and Lightning defaults while the budget allows), and the data path.
# Writes gpu_check.json + gpu_check.log into $OUT (default: ./gpu_check_out).
# Installs nothing from the network: wheels for the few missing pure/binary packages travel in
# .whl/ (carry it) and are installed to /tmp/site only where the machine lacks the module.
#   bash experiments/benchmarks/gpu_check.sh            # on the GPU machine
#   bash experiments/benchmarks/gpu_check.sh --smoke    # on a CPU, in about a minute
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}
OUT=${OUT:-$PWD/gpu_check_out}
export OUT
mkdir -p "$OUT"
wheels=()
$PY -c "import pandas" 2>/dev/null || wheels+=(.whl/pandas-*.whl .whl/python_dateutil-*.whl .whl/six-*.whl .whl/tzdata-*.whl)
$PY -c "import nibabel" 2>/dev/null || wheels+=(.whl/nibabel-*.whl)
# the benchmark builds the model from conf/ the way training does (Hydra's compose API)
$PY -c "import hydra, omegaconf" 2>/dev/null || wheels+=(.whl/hydra_core-*.whl .whl/omegaconf-*.whl .whl/antlr4_python3_runtime-*.whl)
if [ ${#wheels[@]} -gt 0 ]; then
  echo "installing from .whl: ${wheels[*]}"
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site "${wheels[@]}"
fi
export PYTHONPATH=/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null | tee "$OUT/nvidia_smi.txt" || true
$PY -m experiments.benchmarks.gpu_check --out "$OUT" "$@" 2>&1 | tee "$OUT/gpu_check_stdout.log"
exit "${PIPESTATUS[0]}"
