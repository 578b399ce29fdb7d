# The two commands of the README: `make demo` and `make test`. Everything else is a helper.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python tests/manage.py
DEMO_USERS ?= 2000

.PHONY: demo test lint typecheck check db-start db-stop clean

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

db-start:
	scripts/devdb start

db-stop:
	scripts/devdb stop

# The tests pick their server themselves (DATABASE_URL, else Docker, else scripts/devdb).
test: $(BIN)/.installed
	$(BIN)/pytest $(PYTEST_ARGS)

demo: $(BIN)/.installed db-start
	export DATABASE_URL="$$(scripts/devdb url)" && \
	$(MANAGE) migrate -v0 && \
	$(MANAGE) demo_seed --users $(DEMO_USERS) && \
	$(MANAGE) demo_counts

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/.installed
	$(BIN)/pyright

check: lint typecheck test

clean: db-stop
	rm -rf $(VENV) .devdb .pytest_cache .ruff_cache *.egg-info
