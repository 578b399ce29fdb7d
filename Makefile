# The two commands of the README: `make demo` and `make test`. Everything else is a helper.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python tests/manage.py
DEMO_USERS ?= 2000
DEMO_DB ?= retention_demo
ADMIN_ADDR ?= 127.0.0.1:8000

.PHONY: demo admin test test-citus matrix smoke lint typecheck check docs docs-reference db-start db-stop clean

$(BIN)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "== installing the package and its test tools into $(VENV) (log: $(VENV)/install.log)"
	@{ $(BIN)/pip install --upgrade pip && $(BIN)/pip install -e '.[dev]'; } > $(VENV)/install.log 2>&1 \
	  || { tail -30 $(VENV)/install.log; exit 1; }
	@touch $@

db-start:
	@scripts/devdb start

db-stop:
	scripts/devdb stop

# The tests pick their server themselves (DATABASE_URL, else Docker, else scripts/devdb). Then the
# Citus group (tests/citus, issue 27) on its own settings: it builds Citus from ../shared/citus and
# runs a 3-node cluster; skipped with the reason where Citus cannot be built, a failure under CI=true.
test: $(BIN)/.installed
	$(BIN)/pytest $(PYTEST_ARGS)
	$(BIN)/pytest tests/citus --ds=citus.settings $(CITUS_PYTEST_ARGS)

# The Citus group alone.
test-citus: $(BIN)/.installed
	$(BIN)/pytest tests/citus --ds=citus.settings $(CITUS_PYTEST_ARGS)

# The suite on every supported (Python, Django) pair, a venv each, and the new user's path on each.
matrix: $(BIN)/.installed
	scripts/matrix

# The new user's path on one pair: make smoke SMOKE_PYTHON=python3.13 SMOKE_DJANGO=6.1
SMOKE_PYTHON ?= $(PYTHON)
SMOKE_DJANGO ?= 5.2
smoke: $(BIN)/.installed
	scripts/smoke $(SMOKE_PYTHON) $(SMOKE_DJANGO)

# The main job, start to finish, on a fresh database of its own (retention_demo) every time.
demo: $(BIN)/.installed db-start
	@scripts/devdb recreate $(DEMO_DB)
	@export DATABASE_URL="$$(scripts/devdb url $(DEMO_DB))" DJANGO_SETTINGS_MODULE=testproject.demo_settings && \
	echo "== manage.py migrate: policies synced, purge functions compiled, pg_cron jobs scheduled" && \
	$(MANAGE) migrate -v0 && \
	echo && echo "== manage.py retention status" && \
	$(MANAGE) retention status && \
	echo && echo "== demo data: soft deletes spread over ten years" && \
	$(MANAGE) demo_seed --users $(DEMO_USERS) && \
	$(MANAGE) demo_counts --save $(VENV)/demo-counts.json && \
	echo && echo "== preview: manage.py cleanup_soft_deleted (a dry run, the default)" && \
	$(MANAGE) cleanup_soft_deleted --dry-run && \
	echo && echo "== purge from psql, no Python involved: CALL retention.run_cleanup()" && \
	scripts/devdb psql -c "CALL retention.run_cleanup(triggered_by => 'demo')" && \
	echo && echo "== the audit: manage.py retention show" && \
	$(MANAGE) retention show && \
	echo && echo "== the proof: manage.py retention verify recomputes the hash chain of every run" && \
	$(MANAGE) retention verify && \
	echo && $(MANAGE) demo_counts --before $(VENV)/demo-counts.json && \
	echo && echo "See it in the admin: make admin (http://127.0.0.1:8000/admin/, login demo / demo)"

# The demo database's admin, static files served, with a known login (demo / demo). Run make demo first.
admin: $(BIN)/.installed db-start
	@export DATABASE_URL="$$(scripts/devdb url $(DEMO_DB))" DJANGO_SETTINGS_MODULE=testproject.demo_settings && \
	DJANGO_SUPERUSER_PASSWORD=demo $(MANAGE) demo_admin_user && \
	echo "== the admin of $(DEMO_DB) at http://$(ADMIN_ADDR)/admin/ (login demo / demo); Ctrl-C stops it" && \
	$(MANAGE) runserver --insecure $(ADMIN_ADDR)

# The docs site into site/ (git-ignored); --strict: a broken link or anchor fails the build.
docs: $(BIN)/.installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# Rewrite the generated pages of docs/reference/ from the code and a migrated test database.
docs-reference: $(BIN)/.installed
	scripts/docs_reference

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/.installed
	$(BIN)/pyright

check: lint typecheck test

clean: db-stop
	rm -rf $(VENV) .venv-matrix .devdb .pytest_cache .ruff_cache *.egg-info site
