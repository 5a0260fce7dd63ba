# The two commands: `make run` and `make test`. Everything else here serves them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PG_TEST_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/test
STAMP := $(VENV)/.installed

.PHONY: run test install lint typecheck test-sqlite test-postgres test-e2e bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/prm init --dir var
	$(BIN)/prm db upgrade && $(BIN)/prm demo && \
		echo "prm: serving http://127.0.0.1:8000 (API docs at /schema)" && $(BIN)/prm serve --host 127.0.0.1 --port 8000

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

test-sqlite: install
	bash scripts/ensure-postgres.sh  # the CLI's own PostgreSQL tests run in both passes
	$(BIN)/pytest -q -p no:randomly

test-postgres: install
	bash scripts/ensure-postgres.sh
	PRM_TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/pytest -q

test: lint typecheck test-sqlite test-postgres

bench: install
	bash scripts/ensure-postgres.sh
	$(BIN)/python -m bench.opportunities --quick

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
