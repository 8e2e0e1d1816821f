# Churn pipeline. `make` lists the targets; every target creates the virtual environment first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
VAR := var
DEMO_DATA := $(VAR)/data/synthetic
DEMO_CUSTOMERS ?= 20000
# Scoring date: the day after the demo world's last event (it ends 2026-07-01, exclusive).
AS_OF ?= 2026-07-01
SCORES_DIR ?= $(VAR)
REPORT ?= $(VAR)/reports/churn-report.html

.DEFAULT_GOAL := help
.PHONY: help venv lock train score report test test-fast lint config-reference bench clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

# Exact tested versions from requirements.lock (pip constraints); pyproject.toml keeps the ranges.
$(BIN)/.installed: pyproject.toml requirements.lock
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e '.[dev,spark,dagster]'
	touch $@

venv: $(BIN)/.installed ## Create the virtual environment and install the project

lock: $(BIN)/.installed ## Pin what the virtual environment has now (after tests pass) in requirements.lock
	set -o pipefail; { echo "# Exact versions the tests passed with: \`make lock\` regenerates it (pip freeze)."; \
	  $(BIN)/pip freeze --exclude-editable | grep -iv '^churn[-_]pipeline=='; } > requirements.lock.tmp
	mv requirements.lock.tmp requirements.lock

$(DEMO_DATA)/customers.parquet: | $(BIN)/.installed
	$(BIN)/churn data synth --customers $(DEMO_CUSTOMERS) --seed 1 --out $(DEMO_DATA)

TRAIN_CONFIG ?= configs/default.yaml

# One line per step so score/report steps can be appended as they land.
train: $(BIN)/.installed $(DEMO_DATA)/customers.parquet ## Generate the demo data, validate, tune, train, register
	$(BIN)/churn validate --data $(DEMO_DATA) --config $(TRAIN_CONFIG)
	$(BIN)/churn train --data $(DEMO_DATA) --config $(TRAIN_CONFIG) --var-dir $(VAR)
	$(BIN)/churn score --data $(DEMO_DATA) --config $(TRAIN_CONFIG) --as-of $(AS_OF) --out $(SCORES_DIR) --var-dir $(VAR)
	$(BIN)/churn report --scores $(SCORES_DIR) --config $(TRAIN_CONFIG) --var-dir $(VAR) --out $(REPORT)
	@echo "demo data: $(DEMO_DATA); mlflow UI: $(BIN)/mlflow ui --backend-store-uri sqlite:///$(abspath $(VAR))/mlflow/mlflow.db"

score: $(BIN)/.installed ## Score the demo data as of AS_OF (default 2026-07-01) into SCORES_DIR/scores
	$(BIN)/churn score --data $(DEMO_DATA) --config $(TRAIN_CONFIG) --as-of $(AS_OF) --out $(SCORES_DIR) --var-dir $(VAR)

report: $(BIN)/.installed ## HTML report of churn drivers from the latest scores in $(SCORES_DIR)
	$(BIN)/churn report --scores $(SCORES_DIR) --config $(TRAIN_CONFIG) --var-dir $(VAR) --out $(REPORT)

# Headless Chromium (Debian's package) for the report's browser test; CI runs as root.
$(VAR)/.chromium:
	command -v chromium || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)
	mkdir -p $(VAR) && touch $@

test: $(BIN)/.installed $(VAR)/.chromium ## Run the whole test suite
	$(BIN)/pytest -n 2

test-fast: $(BIN)/.installed ## Fast tests: unit and data-contract tiers (no training, no Spark)
	$(BIN)/pytest -n 2 -m "not slow and not spark"

lint: $(BIN)/.installed ## ruff lint and format check
	$(BIN)/ruff check features models pipelines reporting tests benchmarks
	$(BIN)/ruff format --check features models pipelines reporting tests benchmarks

config-reference: $(BIN)/.installed ## Regenerate docs/config-reference.md from features/config.py
	$(BIN)/python -m features.config_reference

# The pandas reference holds every event in memory (about 4 GB at 200k customers, an estimated
# 20 GB at 1M), so DuckDB is compared with it on the 200k world; with Polars on the 1M world.
BENCH_CUSTOMERS ?= 1000000
BENCH_PANDAS_CUSTOMERS ?= 200000

bench: $(BIN)/.installed ## Benchmarks (long): features vs Polars (1M) and pandas (200k), scoring (1M), DuckDB vs Spark (1M); var/bench/results.md
	rm -f $(VAR)/bench/features-world-*.json $(VAR)/bench/scoring.json $(VAR)/bench/engines.json
	$(BIN)/python -m benchmarks.features --customers $(BENCH_CUSTOMERS) --engines duckdb,polars
	$(BIN)/python -m benchmarks.features --customers $(BENCH_PANDAS_CUSTOMERS) --engines duckdb,pandas
	$(BIN)/python -m benchmarks.scoring --customers $(BENCH_CUSTOMERS)
	$(BIN)/python -m benchmarks.engines --customers $(BENCH_CUSTOMERS)
	$(BIN)/python -m benchmarks.summary

clean: ## Remove generated data, stores, reports and the virtual environment
	rm -rf $(VAR) $(VENV) .pytest_cache .ruff_cache .hypothesis
