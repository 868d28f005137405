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

.PHONY: setup run test lint typecheck unit bench demo clean catalogs

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP) catalogs

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
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

unit: setup
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup

test: setup lint typecheck
	$(BIN)/python tests/require_postgres.py
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup

bench: setup
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/search.py

clean:
	rm -rf $(VENV) var .mypy_cache .pytest_cache .ruff_cache
