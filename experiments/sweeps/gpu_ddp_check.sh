#!/usr/bin/env bash
# trainer=ddp on a GPU machine (one GPU here: world size 1, NCCL, SyncBatchNorm): a single run,
# then a 2-job multirun with the re-launching ddp strategy, checking that each run leaves one set
# of checkpoints and metrics, that no job re-runs the sweep, and that the report is written.
#   OUT=/tmp/out bash experiments/sweeps/gpu_ddp_check.sh      (needs data/processed/synthetic.h5)
# On a bare machine with PyTorch + Lightning, carry hydra/omegaconf/antlr4 in .gpu_site/.
set -uo pipefail
OUT=${OUT:-/tmp/gpu_ddp_check}
mkdir -p "$OUT"
export PYTHONPATH=$PWD:$PWD/.gpu_site:${PYTHONPATH:-} WANDB_MODE=disabled PYTHONUNBUFFERED=1
ROOT=$(mktemp -d)
PY=${PY:-python3}
COMMON=(data.path=$PWD/data/processed/synthetic.h5 paths.root_dir=$ROOT trainer=ddp
        trainer.devices=1 trainer.max_epochs=3 '~callbacks.progress_bar' logger=default)
$PY -c "import torch, lightning; print('torch', torch.__version__, 'lightning', lightning.__version__, torch.cuda.get_device_name(0))" | tee "$OUT/env.txt"
start=$(date +%s)
$PY -m bold5000_ae.cli.train "${COMMON[@]}" > "$OUT/single.log" 2>&1; echo "single rc=$? $(( $(date +%s) - start )) s" | tee -a "$OUT/summary.txt"
start=$(date +%s)
$PY -m bold5000_ae.cli.train -m "${COMMON[@]}" seed=1,2 > "$OUT/multi.log" 2>&1; echo "multirun rc=$? $(( $(date +%s) - start )) s" | tee -a "$OUT/summary.txt"
grep -hE "distributed_backend|Starting with|test/r2 |job [0-9]|report:" "$OUT/single.log" "$OUT/multi.log" | tee -a "$OUT/summary.txt"
(cd "$ROOT/logs" && find . -name "*.ckpt" -o -name metrics.json -o -name report.html -o -name failed.json | sort) | tee -a "$OUT/summary.txt"
ls "$ROOT/logs/train/multiruns" | tee -a "$OUT/summary.txt"
cp "$ROOT"/logs/train/multiruns/*/report/summary.md "$OUT/" 2>/dev/null || true
