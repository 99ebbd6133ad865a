# `make run` brings up the local stack; `make test` runs every test. Both install what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PY_STAMP := $(VENV)/.deps-installed
NPM_STAMP := node_modules/.deps-installed

.PHONY: run reset test lint bench deps chromium clean try

# Ports are variables (`make run PORT=7072 SANDBOX_PORT=7082 AZURITE_PORT=10010`; Azurite takes three from its
# base); a taken port fails at once, naming it. Azurite keeps its data in memory; `make run KEEP_DATA=1` keeps it
# in .azurite/ across restarts (slower as it grows: docs/devhost.md, "Local data").
PORT ?= 7071
SANDBOX_PORT ?= 7081
AZURITE_PORT ?= 10000
STORAGE_ARGS := $(if $(filter-out 0,$(KEEP_DATA)),--keep-data,)

run: deps
	$(PY) -m devhost.stack --port $(PORT) --sandbox-port $(SANDBOX_PORT) --azurite-base-port $(AZURITE_PORT) \
		$(STORAGE_ARGS) $(RUN_ARGS)

# Forget the data `make run KEEP_DATA=1` kept: Azurite's tables, queues and blobs. Stop `make run` first.
reset:
	rm -rf .azurite

# Tests run in a random order (pytest-randomly) so order dependence cannot creep back. The seed is printed
# ("Using --randomly-seed=N"); `make test SEED=N` replays that order.
ifndef SEED
SEED := $(shell od -An -N4 -tu4 /dev/urandom | tr -d ' ')
endif

test: deps chromium lint
	@echo "make test: random order, seed $(SEED)"
	@$(PY) -m pytest --randomly-seed=$(SEED) || { echo "failed with seed $(SEED): make test SEED=$(SEED)"; exit 1; }

lint: $(PY_STAMP)
	$(PY) -m ruff check .

bench: deps
	$(PY) -m benchmarks.stack_bench
	$(PY) -m benchmarks.engine_memory_bench
	$(PY) -m benchmarks.local_data_bench
	$(PY) -m benchmarks.matching_bench
	$(PY) -m benchmarks.pipeline_bench
	$(PY) -m benchmarks.intake_tables_bench
	$(PY) -m benchmarks.preset_bench
	$(PY) -m benchmarks.containment_bench
	$(PY) -m benchmarks.machine_actions_bench
	$(PY) -m benchmarks.blocklists_bench
	$(PY) -m benchmarks.run_start_bench
	$(PY) -m benchmarks.approval_bench
	$(PY) -m benchmarks.poller_bench
	$(PY) -m benchmarks.fanout_bench
	$(PY) -m benchmarks.graph_reads_bench
	$(PY) -m benchmarks.pool_bench
	$(PY) -m benchmarks.outbound_bench
	$(PY) -m benchmarks.notification_bench
	$(PY) -m benchmarks.fault_bench
	$(PY) -m benchmarks.import_bench
	$(PY) -m benchmarks.interpreter_bench
	$(PY) -m benchmarks.console_api_bench
	$(PY) -m benchmarks.console_pages_bench

# What a playbook would do to an alert, offline (no Azure, Azurite or server): JSON on stdout, docs/try.md.
# The tester exits 0 on a match, 1 on none, 2 on an invalid file; make reports any non-zero as its own 2, so
# a CI job that needs the three codes runs `.venv/bin/python -m shared.tryout` itself.
try: $(PY_STAMP)
	@test -n "$(PLAYBOOK)" -a -n "$(ALERT)" || { echo "usage: make try PLAYBOOK=file ALERT=file [FACTS=file]" >&2; exit 2; }
	@$(PY) -m shared.tryout "$(PLAYBOOK)" "$(ALERT)" $(if $(FACTS),--facts "$(FACTS)")

deps: $(PY_STAMP) $(NPM_STAMP)

$(PY_STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(NPM_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm missing: installing Debian's nodejs and npm"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The browser tests (tests/browser) drive Debian's Chromium through Playwright; Playwright never downloads one.
chromium:
	@test -x /usr/bin/chromium || { echo "chromium missing: installing Debian's chromium"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

clean:
	rm -rf $(VENV) node_modules .azurite .pytest_cache .ruff_cache
