# bold5000_ae: `make train` and `make test` set everything up on first use.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch is installed first so pip never pulls a multi-GB CUDA build.
# With a GPU, choose your build: make TORCH_SPEC="torch==2.13.0" TORCH_INDEX="--index-url ..."
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
STAMP := $(VENV)/.installed
SYNTH_DIR := data/synthetic
PREPARED := data/processed/synthetic.h5
# the noise-free twin the brain generator writes, prepared by the same command: the ceiling's input
NOISELESS := data/processed/synthetic_noiseless.h5
ARGS ?=

.PHONY: help install lock train data test lint format clean dashboard bench

help: ## list the targets
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

# Exact versions: requirements.lock pins every dependency that a fresh install resolved when it
# was generated (`make lock`), so an upstream release cannot break a fresh clone or CI overnight.
# pyproject.toml keeps the ranges for library users. torch is left out of the lock (TORCH_SPEC
# chooses the CPU or a CUDA build). After adding or changing a dependency: `make lock` and commit.
LOCK := requirements.lock

$(STAMP): pyproject.toml $(LOCK)
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (Python >= 3.11 needed; set PYTHON=...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)" $(TORCH_INDEX)
	$(BIN)/python -m pip install -q -c $(LOCK) -e ".[dev]"
	# the old Optuna sweeper plugin (optuna<3) of an earlier checkout's .venv: ours replaces it
	$(BIN)/python -m pip uninstall -q -y hydra-optuna-sweeper 2>/dev/null || true
	touch $(STAMP)

install: $(STAMP) ## create .venv and install the package at the versions of requirements.lock

LOCK_VENV := .lock-venv
lock: ## regenerate requirements.lock from a fresh venv (after changing dependencies in pyproject.toml)
	rm -rf $(LOCK_VENV) && $(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install -q --upgrade pip
	$(LOCK_VENV)/bin/python -m pip install -q "$(TORCH_SPEC)" $(TORCH_INDEX)
	$(LOCK_VENV)/bin/python -m pip install -q -e ".[dev]"
	{ echo "# exact versions for make install (pip install -c); regenerate: make lock"; \
	  $(LOCK_VENV)/bin/python -m pip freeze --exclude-editable \
	  | grep -v -i -E '^(torch|triton|nvidia-[a-z0-9-]+)==' ; } > $(LOCK).tmp
	mv $(LOCK).tmp $(LOCK)
	rm -rf $(LOCK_VENV)

$(SYNTH_DIR)/ground_truth.json: | $(STAMP)
	$(BIN)/bold5000-ae-synth output_dir=$(SYNTH_DIR)

# source=synthetic_visual (conf/source/synthetic_visual.yaml): the visual ROI voxels the generator marks
# (BOLD5000's analyses use visual ROIs) and linear cleaning (no per-run z-scoring; motion
# confounds regressed), so prepared(data) = prepared(twin) + prepared(noise) row by row and the
# twin gives the exact ceiling (bold5000_ae/evaluation/ceiling.py refuses a standardized pair). The
# datamodule z-scores voxels. Raw data without ROI masks (spec=easy) keeps the whole brain.
VISUAL_MASK := $(SYNTH_DIR)/bids/derivatives/masks/sub-CSI1_mask-visual.nii.gz
LINEAR_PREP := source=synthetic source.reader.standardize=false \
  '++source.reader.confounds=[trans_x,trans_y,trans_z,rot_x,rot_y,rot_z]'
# $(call prepare_with_twin,<synth dir>,<output .h5>,<twin .h5>,<extra prepare overrides>): the
# data and its noise-free twin, prepared by one command line each (the twin keeps the data's
# stimuli, labels and ground truth); no twin written: a stale twin file is removed.
# The default preparation is source=synthetic_visual (the visual ROI voxels, linear cleaning).
define prepare_with_twin
if [ -f $(1)/bids/derivatives/masks/sub-CSI1_mask-visual.nii.gz ]; then prep=; \
  else prep="$(LINEAR_PREP)"; fi; \
eval $(BIN)/bold5000-ae-prepare overwrite=true $$prep source.root=$(1) output=$(2) $(4) && \
if [ -d $(1)/noiseless/bids ]; then eval $(BIN)/bold5000-ae-prepare overwrite=true \
  $$prep $(4) source.root=$(1)/noiseless output=$(3) \
  source.stimuli_root=$(1)/BOLD5000_Stimuli/Scene_Stimuli/Presented_Stimuli \
  source.labels_table=$(1)/labels.tsv source.ground_truth=$(1)/ground_truth.json; \
else rm -f $(3); fi
endef

$(PREPARED): $(SYNTH_DIR)/ground_truth.json
	$(call prepare_with_twin,$(SYNTH_DIR),$(PREPARED),$(NOISELESS))

data: $(PREPARED) ## generate the synthetic BOLD5000 and prepare it into HDF5

# The same data as single-trial betas (source.reader.mode=lss: one least-squares-separate GLM per
# trial on the cleaned run, docs/real_bold5000.md) and its twin prepared the same way: betas are
# linear in the data, so the twin still gives the exact ceiling.
LSS_PREPARED := data/processed/synthetic_lss.h5
LSS_NOISELESS := data/processed/synthetic_lss_noiseless.h5
$(LSS_PREPARED): $(SYNTH_DIR)/ground_truth.json
	$(call prepare_with_twin,$(SYNTH_DIR),$(LSS_PREPARED),$(LSS_NOISELESS),source.reader.mode=lss)

.PHONY: data-lss
data-lss: $(LSS_PREPARED) ## the synthetic data as LSS single-trial betas, one row per trial, and its twin

# Four subjects for the shared-latent model (conf/spec/multi_subject.yaml: 6 sessions of 2 runs
# each), one prepared file per subject on that subject's own visual mask (voxel counts differ)
# and its noise-free twin beside it: $(MULTI_PREPARED)/sub-<n>.h5, sub-<n>_noiseless.h5.
# About 2 minutes on 2 shared cores (docs/shared_latent.md).
MULTI_SYNTH := data/multi_subject
MULTI_PREPARED := data/processed/multi_subject
MULTI_SUBJECTS := 1 2 3 4
.PHONY: data-multi-subject
$(MULTI_SYNTH)/ground_truth.json: | $(STAMP)
	$(BIN)/bold5000-ae-synth spec=multi_subject output_dir=$(MULTI_SYNTH) overwrite=true

$(MULTI_PREPARED)/sub-4.h5: $(MULTI_SYNTH)/ground_truth.json
	for s in $(MULTI_SUBJECTS); do \
	  $(call prepare_with_twin,$(MULTI_SYNTH),$(MULTI_PREPARED)/sub-$$s.h5,$(MULTI_PREPARED)/sub-$${s}_noiseless.h5,\"++source.reader.subjects=[$$s]\") \
	  || exit 1; done

data-multi-subject: $(MULTI_PREPARED)/sub-4.h5 ## four synthetic subjects, one prepared file (and twin) each (docs/shared_latent.md)

# Few-shot adaptation of the shared latent to subject 4 on 1, 2 and 4 of its sessions, beside the
# same net alone, the shared response model and PCA-k; writes experiments/few_shot/results.csv
# and the table in its README. FEW_SHOT_ARGS adds or replaces options (--seeds, --sessions, ...).
FEW_SHOT_ARGS ?=
.PHONY: few-shot
few-shot: $(STAMP) $(MULTI_PREPARED)/sub-4.h5 ## a new subject's adapter on 1, 2, 4 sessions beside baselines (experiments/few_shot/)
	$(BIN)/python -m experiments.few_shot.run $(FEW_SHOT_ARGS)

# One subject at BOLD5000's size (conf/spec/bold5000.yaml: 142 runs, 5,254 trials, 4,916 images,
# 113 repeated), prepared like $(PREPARED) with its twin; BOLD5000_JOBS runs at once in synth and
# in prepare. Wall time and peak memory on 2 cores: docs/synthetic.md.
BOLD5000_SYNTH := data/synthetic_bold5000
BOLD5000_PREPARED := data/processed/synthetic_bold5000.h5
BOLD5000_NOISELESS := data/processed/synthetic_bold5000_noiseless.h5
BOLD5000_JOBS ?= 2
.PHONY: data-bold5000
$(BOLD5000_SYNTH)/ground_truth.json: | $(STAMP)
	$(BIN)/bold5000-ae-synth spec=bold5000 output_dir=$(BOLD5000_SYNTH) overwrite=true \
	  n_jobs=$(BOLD5000_JOBS)

$(BOLD5000_PREPARED): $(BOLD5000_SYNTH)/ground_truth.json
	$(call prepare_with_twin,$(BOLD5000_SYNTH),$(BOLD5000_PREPARED),$(BOLD5000_NOISELESS),n_jobs=$(BOLD5000_JOBS))

data-bold5000: $(BOLD5000_PREPARED) ## BOLD5000-sized synthetic subject (spec=bold5000) and its twin, prepared (6-9 min on 2 shared cores)

# Model families x seeds on the BOLD5000-sized subject, each beside PCA-k and the ceilings
# (experiments/model_benchmark/README.md); resumes when rerun. Sized for 2 CPU cores: one seed,
# 5 epochs of batch 256 (~300 optimizer steps, as many as make train takes); BENCH_ARGS adds or
# replaces --families, --seeds, --epochs. Then the headroom estimators (what any map of one
# volume can reach, headroom.py). Both tables are written into that README.
BENCH_ARGS ?=
.PHONY: benchmark-models
benchmark-models: $(STAMP) $(BOLD5000_PREPARED) ## model families beside PCA-k at BOLD5000's size (experiments/model_benchmark/)
	$(BIN)/python -m experiments.model_benchmark.run --data $(BOLD5000_PREPARED) \
	  --out logs/model_benchmark/bold5000 --write-readme --seeds 0 --epochs 5 \
	  --overrides data.batch_size=256 $(BENCH_ARGS)
	$(BIN)/python -m experiments.model_benchmark.headroom --out logs/model_benchmark/bold5000 \
	  --write-readme

.PHONY: benchmark-models-tuned
benchmark-models-tuned: $(STAMP) $(BOLD5000_PREPARED) ## every family at its best of the same Optuna budget (8 trials each), 3 seeds (experiments/model_benchmark/)
	$(BIN)/python -m experiments.model_benchmark.run --data $(BOLD5000_PREPARED) \
	  --out logs/model_benchmark/tuned --write-readme --tune 8 --seeds 0 1 2 --epochs 5 \
	  --overrides data.batch_size=256 $(BENCH_ARGS)

.PHONY: synthetic-figure
synthetic-figure: $(STAMP) $(PREPARED) ## real-vs-synthetic noise table and figure -> docs/figures/ (docs/synthetic.md)
	$(BIN)/python -m experiments.synthetic_brain.figure --synthetic $(SYNTH_DIR) \
	  --real ../shared/bold5000/sample_volumes --out docs/figures

train: $(STAMP) $(PREPARED) ## generate + prepare the synthetic data, train the conv autoencoder (ARGS=overrides)
	$(BIN)/bold5000-ae-train $(ARGS)

# The suite runs on every core (pytest-xdist). --dist loadgroup: a module marked
# xdist_group (tests that share an expensive module-scoped fixture) runs on one worker, so the
# fixture is built once, not once per worker; every other test goes to whichever worker is free.
# TEST_WORKERS=0 for one process, or a number. Each worker, and every process a test starts,
# uses TEST_THREADS BLAS/OpenMP/torch threads, so the workers share the cores instead of
# oversubscribing them (2 cores: the documented-command tests took 189 s with the default
# threads, 124 s with one).
TEST_WORKERS ?= auto
TEST_THREADS ?= 1
test: $(STAMP) ## run the test suite (on every core; TEST_WORKERS=0 for one process)
	OMP_NUM_THREADS=$(TEST_THREADS) MKL_NUM_THREADS=$(TEST_THREADS) \
	  OPENBLAS_NUM_THREADS=$(TEST_THREADS) $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup $(ARGS)

lint: $(STAMP) ## ruff and the import layers (lint-imports)
	$(BIN)/ruff check bold5000_ae tests experiments
	$(BIN)/lint-imports

format: $(STAMP) ## ruff format
	$(BIN)/ruff format bold5000_ae tests experiments

dashboard: $(STAMP) ## TensorBoard over logs/ on http://localhost:6006
	$(BIN)/tensorboard --logdir logs --host localhost --port 6006

clean: ## remove generated data and logs (keeps .venv)
	rm -rf data logs multirun outputs

BENCH := $(BIN)/python -m experiments.benchmarks
bench: $(STAMP) ## benchmarks: data path vs one NIfTI per volume, train step, default-path A/B (JSON in experiments/benchmarks/results/; GPU: experiments/benchmarks/gpu_check.sh)
	$(BENCH).bench_data --grid 88 88 66 --n 192 --batch 32
	$(BENCH).bench_data --grid 24 28 24 --n 666 --batch 32
	$(BENCH).bench_train --grid 24 28 24 --n 256 --batch 32 --precision 32-true --no-compile --steps 30 --variants eager_fp32 lightning_default lightning_fast
	$(BENCH).bench_train --grid 88 88 66 --n 8 --batch 2 --variants
	$(BENCH).bench_default_path --grid 24 28 24 --n 666 --batch 32

# Loss comparison sized for 2 CPU cores: SWEEP_LOSSES x 3 seeds, SWEEP_EPOCHS each, two jobs at a
# time (joblib, one thread each: small 3D convs use 2 processes better than 2 threads). The SSIM
# losses are left out here: they cost ~25x an MSE job (124 s vs 5 s per job on an H200), far
# beyond 2 cores; add them with SWEEP_LOSSES=... The sweep and its report stay in their dated
# folder (logs/loss_comparison/multiruns/make_<time>/); UPDATE_REPORT=1 also replaces the
# committed report in experiments/sweeps/loss_comparison/report/ (only for the documented
# settings: the README there says which).
SWEEP_EPOCHS ?= 10
SWEEP_LOSSES ?= mse,l1,huber,smooth_l1,pearson,mse_pearson,bce
SWEEP_JOBS ?= 2
UPDATE_REPORT ?=
SWEEP_DIR := logs/loss_comparison/multiruns/make_$(shell date +%Y-%m-%d_%H-%M-%S)
.PHONY: sweep-losses report docs-screenshots
sweep-losses: $(STAMP) $(PREPARED) ## loss comparison (7 losses x 3 seeds) on 2 cores; report in its dated folder (UPDATE_REPORT=1: also experiments/sweeps/loss_comparison/)
	OMP_NUM_THREADS=1 $(BIN)/bold5000-ae-train experiment=loss_comparison trainer=cpu \
	  model/loss=$(SWEEP_LOSSES) trainer.max_epochs=$(SWEEP_EPOCHS) '~callbacks.progress_bar' \
	  hydra/launcher=joblib hydra.launcher.n_jobs=$(SWEEP_JOBS) hydra.sweep.dir=$(SWEEP_DIR) $(ARGS)
	@if [ -n "$(UPDATE_REPORT)" ]; then \
	  mkdir -p experiments/sweeps/loss_comparison && \
	  rm -rf experiments/sweeps/loss_comparison/report && \
	  cp -r $(SWEEP_DIR)/report experiments/sweeps/loss_comparison/report && \
	  echo "committed report updated: experiments/sweeps/loss_comparison/report/"; \
	else echo "report: $(SWEEP_DIR)/report/report.html (UPDATE_REPORT=1 to replace the committed one)"; fi

report: $(STAMP) ## rebuild a sweep's report: make report SWEEP=logs/<task>/multiruns/<time> (default: the newest sweep under logs/)
	$(BIN)/bold5000-ae-report $(SWEEP)

# docs/img/: a screenshot of a sweep's HTML report (headless chromium, as a reader's browser
# draws it) and the nilearn brain figure of that sweep's best job. SHOT_SWEEP=<multirun dir>
# uses an existing sweep; by default a small one is run (2 losses x 2 seeds x SHOT_EPOCHS).
SHOT_EPOCHS ?= 4
SHOT_SWEEP ?=
SHOT_DIR := logs/docs_screenshots/multiruns/$(shell date +%Y-%m-%d_%H-%M-%S)
CHROMIUM ?= $(shell command -v chromium || command -v chromium-browser || command -v google-chrome)
docs-screenshots: $(STAMP) ## screenshots of a sweep report and a nilearn brain figure into docs/img/ (SHOT_SWEEP=<multirun dir>, else a small sweep)
	@test -n "$(CHROMIUM)" || { echo "error: chromium not found (apt-get install -y chromium)"; exit 1; }
	@if [ -z "$(SHOT_SWEEP)" ]; then $(MAKE) --no-print-directory $(PREPARED) && \
	  OMP_NUM_THREADS=1 $(BIN)/bold5000-ae-train -m model/loss=mse,l1 seed=1,2 trainer=cpu \
	  trainer.max_epochs=$(SHOT_EPOCHS) '~callbacks.progress_bar' hydra/launcher=joblib \
	  hydra.launcher.n_jobs=2 hydra.sweep.dir=$(SHOT_DIR) $(ARGS); fi
	$(BIN)/python -m bold5000_ae.report.screenshot $(or $(SHOT_SWEEP),$(SHOT_DIR)) docs/img \
	  --browser $(CHROMIUM)

# The four research phases and the generalization check, each one experiment config
# (conf/experiment/); results notes in experiments/<phase>/README.md. Each target ends
# by printing its README's table from the run it just made (experiments/phase_tables.py: every
# number beside its baselines, CIs and p); UPDATE_README=1 also writes the table into the
# README. The run folder is pinned (logs/<task>/runs/make_<time>) so the table reads this run.
SECOND_SYNTH := data/synthetic_second
SECOND := data/processed/synthetic_second.h5
UPDATE_README ?=
RUN_TIME := $(shell date +%Y-%m-%d_%H-%M-%S)
# $(call phase_run,<phase>,<experiment config, = its task_name>)
define phase_run
$(BIN)/bold5000-ae-train experiment=$(2) hydra.run.dir=logs/$(2)/runs/make_$(RUN_TIME) $(ARGS)
$(BIN)/python -m experiments.phase_tables $(1) logs/$(2)/runs/make_$(RUN_TIME) $(if $(UPDATE_README),--write)
endef
.PHONY: phase1 phase2 phase3 phase4 generalization
phase1: $(STAMP) $(PREPARED) ## phase 1: conv 3D autoencoder (R² beside training mean, PCA-k, ceiling)
	$(call phase_run,phase1,phase1_autoencoder)

phase2: $(STAMP) $(PREPARED) ## phase 2: VAE (recon/KL, ELBO, active units, probe AUC beside its baselines)
	$(call phase_run,phase2,phase2_vae)

phase3: $(STAMP) $(PREPARED) ## phase 3: transfer classifier (trains the AE first; CV AUC beside untrained, PCA-k, raw voxels, oracle)
	$(call phase_run,phase3,phase3_transfer)

phase4: $(STAMP) $(PREPARED) ## phase 4: image -> frozen BOLD latent (cosine, 2-/50-way identification beside ideal and category-only)
	$(call phase_run,phase4,phase4_image_to_latent)

# A synthetic "second experiment": another seed (anatomy, maps, noise), more noise, other
# stimuli and a different grid, which the evaluation resamples onto the training grid. Prepared
# like the built-in file (LINEAR_PREP), with its noise-free twin, so its read-outs get an oracle
# on the same folds (bold5000_ae.evaluation.baselines.oracle_map) with a CI.
SECOND_NOISELESS := data/processed/synthetic_second_noiseless.h5
$(SECOND): | $(STAMP)
	$(BIN)/bold5000-ae-synth output_dir=$(SECOND_SYNTH) overwrite=true spec.seed=1 \
	  'spec.grid=[22,26,22]' 'spec.voxel_size_mm=[6.5,6.5,6.5]' spec.noise_std=1.25 \
	  spec.unique_images=180
	$(BIN)/bold5000-ae-prepare source.root=$(SECOND_SYNTH) output=$(SECOND) overwrite=true \
	  $(LINEAR_PREP)
	if [ -d $(SECOND_SYNTH)/noiseless/bids ]; then $(BIN)/bold5000-ae-prepare overwrite=true \
	  $(LINEAR_PREP) source.root=$(SECOND_SYNTH)/noiseless output=$(SECOND_NOISELESS) \
	  source.stimuli_root=$(SECOND_SYNTH)/BOLD5000_Stimuli/Scene_Stimuli/Presented_Stimuli \
	  source.labels_table=$(SECOND_SYNTH)/labels.tsv \
	  source.ground_truth=$(SECOND_SYNTH)/ground_truth.json; \
	else rm -f $(SECOND_NOISELESS); fi

generalization: $(STAMP) $(PREPARED) $(SECOND) ## the phase-1 encoder as fixed features on a second synthetic experiment
	$(call phase_run,generalization,generalization)
