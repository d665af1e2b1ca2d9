# The two commands a new user needs: `make run` and `make test` (both install first if needed).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CATSDOGS := $(VENV)/bin/catsdogs
STAMP := $(VENV)/.installed
CONFIG ?= configs/vgg19_lookahead.yaml
SUBMISSION ?= submission.csv

.PHONY: install test lint bench run clean

install: $(STAMP)

# Re-installs only when pyproject.toml changes: `make install` is idempotent.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check catsdogs tests scripts
	$(VENV)/bin/ruff format --check catsdogs tests scripts

bench: install
	$(PY) scripts/bench_lookahead.py
	$(PY) scripts/bench_prepare.py
	$(PY) scripts/bench_pipeline.py

# The main job: prepare -> train -> predict. Stops with a clear word at the first command
# that is not built yet.
run: install
	@for cmd in prepare train predict; do \
	  if ! $(CATSDOGS) $$cmd --help >/dev/null 2>&1; then \
	    echo "make run: 'catsdogs $$cmd' is not built yet (see README: Status); stopping here."; \
	    exit 0; \
	  fi; \
	done; \
	$(CATSDOGS) prepare && \
	$(CATSDOGS) train --config $(CONFIG) && \
	$(CATSDOGS) predict --out $(SUBMISSION)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
