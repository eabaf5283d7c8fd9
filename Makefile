# whistle: `make run` installs and starts the service; `make test` installs and runs every test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: install install-test run lint test wheel bench translations clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	npm ci --no-audit --no-fund --silent
	$(MAKE) --no-print-directory translations

install-test: install
	$(BIN)/pip install --quiet -r requirements-test.lock

translations:
	$(BIN)/pybabel compile --use-fuzzy -d whistle/translations -f >/dev/null

# Embedded default: SQLite + in-memory rate limits, demo committee keys (clearly marked).
run: install
	$(BIN)/whistle demo
	$(BIN)/whistle run --host 127.0.0.1 --port 5000

# Two workers (the machine's two cores); tests/conftest.py keeps the browser tests and the
# Redis-flushing ones each on one worker (xdist_group).
PYTEST_WORKERS ?= 2

# Linters (settings: pyproject.toml [tool.ruff], setup.cfg [mypy], each with its baseline).
lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict crypto/*.py
	$(BIN)/mypy whistle

test: lint
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup

# The installable package (dist/whistle-*.whl): templates, static files, compiled catalogs,
# migrations and the checked libsodium build inside (deploy/build/whistle_build.py).
wheel: install
	$(BIN)/pip wheel --quiet --no-deps --no-build-isolation --wheel-dir dist .

# Benchmarks (not tests): gunicorn, SQLite and PostgreSQL, Redis; writes docs/benchmarks.md.
bench: install-test
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) node_modules instance dist
