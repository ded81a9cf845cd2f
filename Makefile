# Set-up is part of every target: a fresh clone needs only `make run` or `make test`.
# `make run` installs what the app needs; `make test` adds the dev extras (tests, lint, PostgreSQL
# driver, benchmarks). Both install the exact versions in constraints.txt.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt
RUN_STAMP := $(VENV)/.run-stamp
DEV_STAMP := $(VENV)/.dev-stamp

.PHONY: run test lint bench bench-smoke dist clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) -e .
	touch $@

$(DEV_STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) -e '.[dev]'
	touch $@ $(RUN_STAMP)

run: $(RUN_STAMP)
	$(BIN)/turris-api $(ARGS)

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

test: $(DEV_STAMP) lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The wheel and the sdist, in dist/ (tests/test_installed_wheel.py builds its own, outside the checkout).
dist: $(DEV_STAMP)
	$(BIN)/python -m build --outdir dist .

# wrk (Debian's package) generates the load when installed; without it a bounded httpx loop stands in.
bench: $(DEV_STAMP)
	$(BIN)/python -m bench

bench-smoke: $(DEV_STAMP)
	$(BIN)/python -m bench --smoke

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache dist build
