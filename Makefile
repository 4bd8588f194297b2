# Siyu — one command to run the demo, one to run every check.
#   make demo   set up (venv, Python + npm packages, database, translations, demo data) and serve on :8000
#   make test   set up with dev dependencies and run ruff, import-linter, mypy, migrations check and pytest
#               (SQLite, then PostgreSQL)

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test setup setup-dev lint typecheck migrations-check pytest-sqlite pytest-postgres clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

node_modules/.installed: package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV)/.installed node_modules/.installed
	$(BIN)/siyu compilemessages_po

setup-dev: setup $(VENV)/.installed-dev

demo: setup
	$(BIN)/siyu demo

lint: setup-dev
	$(BIN)/ruff check siyu tests
	$(BIN)/ruff format --check siyu tests
	$(BIN)/lint-imports

typecheck: setup-dev
	$(BIN)/mypy siyu

migrations-check: setup-dev
	env -u DATABASE_URL SIYU_VAR_DIR=$(CURDIR)/var/check $(BIN)/siyu makemigrations --check --dry-run

# SQLite run: the whole suite (PostgreSQL-only race tests skip themselves). Browser tests run in a pytest process
# of their own: Playwright's event loop and the session-wide live server stay out of the tests that start real
# servers (bench, self-healing).
pytest-sqlite: setup-dev
	env -u DATABASE_URL $(BIN)/pytest -m "not browser"
	env -u DATABASE_URL $(BIN)/pytest -m browser

# PostgreSQL run, when DATABASE_URL points at one: the whole suite again, race tests included.
pytest-postgres: setup-dev
	@case "$$DATABASE_URL" in \
	  postgres*) $(BIN)/pytest --create-db -m "not browser" ;; \
	  *) echo "DATABASE_URL does not point at PostgreSQL: skipping the PostgreSQL run" ;; \
	esac

test: lint typecheck migrations-check pytest-sqlite pytest-postgres

clean:
	rm -rf $(VENV) node_modules var
