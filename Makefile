# One-command set-up: every target creates the virtual environment it needs.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/.proforma/dagster

.PHONY: demo test dev sandbox lint bench clean

$(STAMP): pyproject.toml
	@echo "Installing proforma-warehouse and its dependencies into $(VENV) ..."
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip 2>&1 | { grep -v "is neither a file" || true; }
	$(BIN)/python -m pip install --quiet -e '.[dev]' 2>&1 | { grep -v "is neither a file" || true; }
	@touch $(STAMP)

# The local Dagster instance the demo and the UI share.
$(DAGSTER_HOME)/dagster.yaml:
	@mkdir -p $(DAGSTER_HOME)
	@printf 'telemetry:\n  enabled: false\n' > $@

## demo: run the daily load for every configured project (embedded sandbox, SQLite, Parquet)
demo: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python -m pipelines

## test: the whole test suite (PostgreSQL tests skip, saying why, when no server is reachable)
test: $(STAMP)
	$(BIN)/python -m pytest

## dev: the Dagster UI on http://127.0.0.1:3000 with this code location (pool limits applied first)
dev: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python -m pipelines.pools
	$(BIN)/dagster dev -w workspace.yaml

## sandbox: a standalone ProForma sandbox on http://127.0.0.1:8080/jira
sandbox: $(STAMP)
	$(BIN)/proforma sandbox --replay tests/data/samples

## bench: the benchmarks (docs/benchmarks.md); BENCH_ARGS="--sizes 1000,10000,100000" for more
BENCH_STAMP := $(VENV)/.installed-bench
$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]' 2>&1 | { grep -v "is neither a file" || true; }
	@touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf .proforma
