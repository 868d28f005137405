# HealthBrain: `make run` serves the demo region, `make test` runs every check.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_PATIENTS ?= 2000
DEMO_SEED ?= 42
export HEALTHBRAIN_DATABASE_URL ?= sqlite:///var/healthbrain.db
# system packages are installed as root, or through sudo for anyone else
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get

.PHONY: setup run test lint typecheck unit bench demo clean catalogs browser

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP) catalogs node_modules/.installed browser

# the cockpit's browser libraries (ECharts, htmx) from package-lock.json; served from node_modules
node_modules/.installed: package.json package-lock.json
	command -v npm >/dev/null 2>&1 || { $(APT) update -q && $(APT) install -y -q npm; }
	npm ci --no-audit --no-fund
	touch $@

# Debian's chromium for the cockpit's browser tests (never a browser download); CJK fonts for screenshots
browser:
	command -v chromium >/dev/null 2>&1 || { $(APT) update -q && $(APT) install -y -q chromium fonts-noto-cjk; }

catalogs: $(STAMP)
	$(BIN)/python -m healthbrain.core.i18n compile

var/demo/.done: $(STAMP)
	mkdir -p var
	$(BIN)/healthbrain db upgrade
	$(BIN)/healthbrain simulate --patients $(DEMO_PATIENTS) --seed $(DEMO_SEED) --out var/demo
	$(BIN)/healthbrain ingest var/demo
	touch var/demo/.done

demo: setup var/demo/.done

run: demo
	$(BIN)/healthbrain serve --host $(HOST) --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

unit: setup
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup

test: setup lint typecheck
	$(BIN)/python tests/require_postgres.py
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup

# every benchmark, one after the other (figures in bench/out/*.json; docs/benchmarks.md lists them);
# `make bench BENCHES="ingest search"` runs a selection
BENCHES ?= ingest search security_overhead hl7v2 terminology quality mpi mpi_historical mpi_incremental \
	surveillance surveillance_nightly surveillance_sim forecast deid anomaly cds_latency cds_crescenddi ui
bench: setup
	@for b in $(BENCHES); do echo "== bench/$$b.py"; $(BIN)/python bench/$$b.py || exit 1; done

clean:
	rm -rf $(VENV) var .mypy_cache .pytest_cache .ruff_cache node_modules
