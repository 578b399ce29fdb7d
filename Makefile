# The two commands of the README: `make demo` and `make test`. Everything else is a helper.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python tests/manage.py
DEMO_USERS ?= 2000
DEMO_DB ?= retention_demo

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

# The main job, start to finish, on a fresh database of its own (retention_demo) every time.
demo: $(BIN)/.installed db-start
	scripts/devdb recreate $(DEMO_DB)
	export DATABASE_URL="$$(scripts/devdb url $(DEMO_DB))" DJANGO_SETTINGS_MODULE=testproject.demo_settings && \
	echo "== migrate: policies synced, purge functions compiled" && \
	$(MANAGE) migrate -v0 && \
	echo "== scheduled by migrate: manage.py retention status" && \
	$(MANAGE) retention status && \
	$(MANAGE) demo_seed --users $(DEMO_USERS) && \
	$(MANAGE) demo_counts && \
	echo "== preview: manage.py cleanup_soft_deleted --dry-run" && \
	$(MANAGE) cleanup_soft_deleted --dry-run && \
	echo "== purge from psql, no Python involved: CALL retention.run_cleanup()" && \
	scripts/devdb psql -c "CALL retention.run_cleanup(triggered_by => 'demo')" && \
	echo "== the audit: manage.py retention show" && \
	$(MANAGE) retention show && \
	echo "== proof: every run sealed in a hash chain; manage.py retention verify recomputes it" && \
	$(MANAGE) retention verify && \
	$(MANAGE) demo_counts

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/.installed
	$(BIN)/pyright

check: lint typecheck test

clean: db-stop
	rm -rf $(VENV) .devdb .pytest_cache .ruff_cache *.egg-info
