# The two commands a user needs: `make demo` and `make test`. Everything else is a step of them.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: setup postgis venv db demo serve test test-tools lint config samples bench clean

setup: venv postgis db ## Virtualenv, PostGIS and the database (idempotent)
	@scripts/setup_dictionary.sh

venv: $(STAMP)

$(STAMP): pyproject.toml
	@py=$$(scripts/find_python.sh) && \
	if [ ! -x $(BIN)/python ] || ! $(BIN)/python -c 'import sys; sys.exit(sys.version_info < (3, 12))'; then \
	  echo "setup: creating $(VENV) with $$py"; rm -rf $(VENV); "$$py" -m venv $(VENV); fi
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

postgis:
	@scripts/setup_postgis.sh

db: venv postgis
	@$(BIN)/twin db init

demo: setup ## Load data/samples/ and serve the API on http://$(HOST):$(PORT)
	$(BIN)/twin load-samples
	$(BIN)/twin config
	$(BIN)/twin serve --host $(HOST) --port $(PORT)

serve: setup
	$(BIN)/twin serve --host $(HOST) --port $(PORT)

config: setup
	$(BIN)/twin config

samples: venv ## Regenerate data/samples/ (deterministic)
	$(BIN)/python data/samples/generate.py

test-tools:
	@scripts/setup_test_tools.sh

lint: venv
	$(BIN)/ruff check .

test: setup test-tools lint ## The whole test suite against real PostGIS and a real server
	$(BIN)/pytest

bench: setup ## Benchmarks; results go to bench/results/
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache config/openapi.yml
