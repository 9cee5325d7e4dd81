# The two commands a user needs: `make demo` and `make test`. Everything else is a step of them.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 5000
# Length of the soak's steady phase (loads under traffic); restart and a 30 s stop follow.
SOAK_SECONDS ?= 60
# Offered load and length of `make bench-sensors`.
SENSOR_RATE ?= 6000
SENSOR_SECONDS ?= 20

.PHONY: setup postgis venv db demo serve test test-tools lint config samples bench bench-tools \
	bench-edr bench-quick bench-peers bench-sensors soak fuzz clean

setup: venv postgis db ## Virtualenv, PostGIS and the database (idempotent)
	@scripts/setup_dictionary.sh
	@scripts/setup_gdal.sh
	@scripts/setup_mosquitto.sh

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

demo: setup ## Load data/samples/, start the sensors (broker, intake, simulator) and serve the API on http://$(HOST):$(PORT)
	$(BIN)/twin load-samples
	$(BIN)/twin config
	$(BIN)/twin demo --host $(HOST) --port $(PORT)

serve: setup
	$(BIN)/twin serve --host $(HOST) --port $(PORT)

config: setup
	$(BIN)/twin config

samples: venv ## Regenerate data/samples/ (deterministic)
	$(BIN)/python data/samples/generate.py

test-tools: ## GDAL's CLI, QGIS 3.22 headless, Chromium, and schemathesis and ogctests in virtualenvs of their own
	@scripts/setup_test_tools.sh
	@scripts/setup_mosquitto.sh
	@scripts/setup_browser.sh
	@scripts/setup_conformance_tools.sh

lint: venv
	$(BIN)/ruff check .

# Whole modules per worker (a module's database and server stay in one process); each worker
# builds its own template and sample database. TEST_WORKERS=0 runs in one process. Three on two
# cores: with two, the cores idled a fifth of the run while tests waited (restarts, brokers,
# browsers) and the suite took 324 s; a third worker's modules fill those waits (297 s).
TEST_WORKERS ?= 3
test: setup test-tools lint ## The whole test suite against real PostGIS and a real server
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

bench: setup test-tools bench-tools ## Benchmarks; results go to bench/results/ and bench/RESULTS.md
	$(BIN)/python bench/run.py
	$(BIN)/python bench/viewer.py
	$(BIN)/python bench/jit.py
	@for n in 10000 200000 1000000; do $(BIN)/python bench/peers.py --count $$n || exit 1; done
	$(BIN)/python bench/sensors.py --rate $(SENSOR_RATE) --seconds $(SENSOR_SECONDS)
	$(BIN)/python bench/edr.py
	$(BIN)/python bench/suite.py --workers $(TEST_WORKERS)

bench-suite: setup test-tools ## The test suite's time and where it goes (issue 11: under 5 min on 2 cores)
	$(BIN)/python bench/suite.py --workers $(TEST_WORKERS)

bench-edr: setup ## EDR time for one station-month and one station-year against the bare SQL (issue 12)
	$(BIN)/python bench/edr.py

bench-tools: ## wrk, tipg (in .venv-tipg) and ogr2ogr: the peers of bench/peers.py
	@scripts/setup_bench_tools.sh

# Issue 11: the twin against tipg (API) and ogr2ogr (loads), side by side on the same data.
# Each run also profiles the goals it misses (py-spy: bench/profiles.py) and
# rewrites the scale table across sizes (bench/scale_report.py) and the README's sentence.
PEERS_COUNT ?= 200000
bench-peers: setup bench-tools ## The twin vs tipg and ogr2ogr (make bench-peers PEERS_COUNT=1000000)
	$(BIN)/python bench/peers.py --count $(PEERS_COUNT)

# Issue 12: sustained sensor ingest through mosquitto, and the publish-to-queryable delay.
bench-sensors: setup ## Sensor ingest benchmark (make bench-sensors SENSOR_RATE=6000)
	$(BIN)/python bench/sensors.py --rate $(SENSOR_RATE) --seconds $(SENSOR_SECONDS)

bench-quick: setup bench-tools ## The same on 10,000 parcels, short rounds (tiles, profiles): ~2 min
	$(BIN)/python bench/peers.py --count 10000 --rounds 2 --seconds 3

# Not part of `make test`: ~3 min of faults under traffic in a PostgreSQL cluster of its own
# (needs root for pg_createcluster); figures to bench/RESULTS.md. The trap drops the cluster
# even if the script itself is killed.
soak: venv postgis ## Soak test; figures in bench/RESULTS.md (make soak SOAK_SECONDS=20)
	@trap '$(BIN)/python bench/soak.py --drop-only' EXIT; \
	$(BIN)/python bench/soak.py --seconds $(SOAK_SECONDS)

# Not part of `make test` (which runs 5 cases per operation): schemathesis over every GET
# operation with FUZZ_EXAMPLES cases each, a new seed each run (printed; FUZZ_SEED=N repeats it).
FUZZ_EXAMPLES ?= 200
FUZZ_SEED ?= $(shell date +%s)
fuzz: setup test-tools ## Long schemathesis run (make fuzz FUZZ_EXAMPLES=1000)
	@echo "fuzz: $(FUZZ_EXAMPLES) cases per operation, seed $(FUZZ_SEED)"
	TWIN_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) TWIN_FUZZ_SEED=$(FUZZ_SEED) \
	  $(BIN)/pytest tests/test_schemathesis.py -k fuzzing -o timeout=0

clean:
	rm -rf $(VENV) .venv-schemathesis .venv-ogctests .venv-tipg bench/data .pytest_cache .ruff_cache config/openapi.yml config/openapi.json
