# The two commands: `make run` and `make test`. Everything else here serves them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PG_TEST_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/test
STAMP := $(VENV)/.installed
NEED_PYTHON := 3.11
ASK_VERSION := import sys; print("%d.%d" % sys.version_info[:2], sys.version_info >= (3, 11))

.PHONY: run test install lint typecheck test-sqlite test-postgres test-e2e bench clean

# First of all, a Python that is new enough, said in one line before anything is done.
ifneq ($(MAKECMDGOALS),clean)
PYTHON_FOUND := $(shell $(PYTHON) -c '$(ASK_VERSION)' 2>/dev/null)
ifneq ($(lastword $(PYTHON_FOUND)),True)
$(error prm needs Python $(NEED_PYTHON)+, and $(PYTHON) is $(or $(firstword $(PYTHON_FOUND)),not there): install one and run make PYTHON=python3.X)
endif
endif

# A .venv made by another Python (too old, or one that no longer runs) is made again, not reused.
VENV_FOUND := $(if $(wildcard $(BIN)/python),$(or $(shell $(BIN)/python -c '$(ASK_VERSION)' 2>/dev/null),broken),none)
ifneq ($(lastword $(VENV_FOUND)),True)
.PHONY: $(STAMP)
endif

$(STAMP): pyproject.toml
ifneq ($(filter-out none True,$(lastword $(VENV_FOUND))),)
	@echo "prm: $(VENV) was made by $(if $(filter broken,$(VENV_FOUND)),a Python that no longer runs,Python $(firstword $(VENV_FOUND))), not $(NEED_PYTHON)+: making it again"
	rm -rf $(VENV)
endif
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
	$(BIN)/pytest -q -p no:randomly

test-postgres: install
	bash scripts/ensure-postgres.sh
	PRM_TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/pytest -q

# The two databases' runs go side by side (each its own database and temporary files); each
# run's output is printed whole when it ends, and the target fails if either does.
test: lint typecheck
	$(MAKE) --no-print-directory -j2 --output-sync=target test-sqlite test-postgres

bench: install
	bash scripts/ensure-postgres.sh
	$(BIN)/python -m bench.opportunities --quick

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
