# The two commands a new user needs: `make run` and `make test` (both install first if needed).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CATSDOGS := $(VENV)/bin/catsdogs
STAMP := $(VENV)/.installed
# A machine with an NVIDIA driver also gets TensorFlow's CUDA wheels (the `gpu` extra): plain
# `tensorflow` on Linux sees no GPU without them.
HAS_GPU := $(shell command -v nvidia-smi 2>/dev/null)
comma := ,
EXTRAS := dev$(if $(HAS_GPU),$(comma)gpu)
# The VGG19 reference needs a GPU (~18 hours for the full data on 2 CPU cores): without one,
# `make run` trains the CPU recipe, for the 30 minutes of its time budget whatever the data.
# CONFIG=... chooses either way; BUDGET=2h trains for that long instead (--time-budget).
CONFIG ?= $(if $(HAS_GPU),configs/vgg19_lookahead.yaml,configs/cpu.yaml)
BUDGET ?=
# One run directory per config (and budget): an interrupted `make run` continues it, a
# finished one is reused (not trained again) while the config and the data stay the same.
RUN_DIR ?= runs/$(basename $(notdir $(CONFIG)))$(if $(BUDGET),-$(BUDGET))
SUBMISSION ?= submission.csv
# Where the images come from: empty (Kaggle with credentials, else the PetImages download; data
# already prepared from anywhere is used as it is) or SOURCE=PATH (a folder or zip on disk).
SOURCE ?=
# DATA=DIR: prepare into (and train on) DIR instead of data/processed; FORCE=1: prepare it again
# (prepare's --out and --force, the two ways out that its errors name), and write the
# submission even from a weak model or over a better model's (predict --force).
DATA ?=
FORCE ?=
# Each value goes to the shell single-quoted: BUDGET='5m; touch X' is a (bad) budget, not a command.
q = '$(subst ','\'',$(1))'

.PHONY: install test lint bench run clean

install: $(STAMP)

# Re-installs only when pyproject.toml changes: `make install` is idempotent.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $(STAMP)

# Two worker processes (pytest-xdist) for CI's 2 cores: much of the suite waits on subprocesses.
test: install
	$(PY) -m pytest -n 2 --durations=15

lint: install
	$(VENV)/bin/ruff check catsdogs tests scripts
	$(VENV)/bin/ruff format --check catsdogs tests scripts

bench: install
	$(PY) scripts/bench_lookahead.py
	$(PY) scripts/bench_prepare.py
	$(PY) scripts/bench_manifests.py
	$(PY) scripts/bench_pipeline.py
	$(PY) scripts/bench_predict.py
	$(PY) scripts/bench_photo.py
	$(if $(HAS_GPU),$(PY) scripts/bench_train.py,@echo "no GPU: skipping scripts/bench_train.py (VGG19 at 224 px)")

# The main job: data -> model -> Kaggle submission. Each step resumes or reuses what an
# earlier run left (prepare is a no-op once done; train continues an interrupted run and
# trains nothing once RUN_DIR has finished; predict names that run).
RUN_MESSAGE = make run: training $(CONFIG)$(if $(BUDGET), for $(BUDGET) (the time budget is the training's$(comma) start to exit: preparing comes before it and predicting after))$(if $(filter file,$(origin CONFIG)),$(if $(HAS_GPU), (a GPU is here: the VGG19 reference), (no GPU here, so the CPU recipe$(if $(BUDGET),,$(comma) for the 30 minutes of its time budget; BUDGET=2h for longer); the VGG19 reference is CONFIG=configs/vgg19_lookahead.yaml)))

run: install
	$(if $(BUDGET),@$(PY) -m catsdogs.durations $(call q,$(BUDGET)))
	@echo $(call q,$(RUN_MESSAGE))
	$(CATSDOGS) prepare$(if $(SOURCE), --source $(call q,$(SOURCE)))$(if $(DATA), --out $(call q,$(DATA)))$(if $(FORCE), --force)
	$(CATSDOGS) train --config $(call q,$(CONFIG)) --run-dir $(call q,$(RUN_DIR)) --reuse-finished$(if $(BUDGET), --time-budget $(call q,$(BUDGET)))$(if $(DATA), --data $(call q,$(DATA)))
	$(CATSDOGS) predict --model $(call q,$(RUN_DIR)) --out $(call q,$(SUBMISSION))$(if $(FORCE), --force)
	@echo $(call q,catsdogs is installed in $(VENV)/: type `source $(VENV)/bin/activate` in this shell to use the catsdogs commands above as printed (or $(CATSDOGS) ...))

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
