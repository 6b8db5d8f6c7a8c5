# tarcza — `make run` serves the platform; `make test` runs the whole suite.
# Both work on a fresh machine: they create .venv and install what they need.
# `make run PORT=8010` (and HOST=…) serves elsewhere.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two stamps: serving needs only the package and its dependencies; the checks need the test
# and lint tools and Ray (tests/hashing/test_scan_ray.py fails without it when CI=true) on
# top, about 1 GB more that `make run` never waits for.
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test setup browser lint typecheck unit bench messages clean

# Python 3.11's own pip installs an editable project from pyproject.toml (PEP 660): no upgrade.
# --no-compile: pip would byte-compile every module of every package (half its CPU time);
# Python compiles the modules a command imports when it first imports them.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# uv (an installer whose PyPI wheel carries its binary) installs the pinned set in seconds from
# its cache where pip takes a minute; should it fail, pip does the same install. Compiling the
# bytecode at install time (in parallel) spares every later command compiling what it imports.
UV_VERSION := 0.13.9
# A comma cannot stand in a $(call) argument: the extras are named through a variable.
comma := ,
DEV_EXTRAS := '.[dev$(comma)scale]'
INSTALL = $(BIN)/pip install --quiet --no-compile uv==$(UV_VERSION) \
	&& $(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -c constraints.txt -e $(1) \
	|| $(BIN)/pip install --quiet --no-compile -c constraints.txt -e $(1)

$(RUN_STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(call INSTALL,.)
	touch $@

# The dev install holds everything the run install does.
$(DEV_STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(call INSTALL,$(DEV_EXTRAS))
	touch $@ $(RUN_STAMP)

setup: $(DEV_STAMP)

run: $(RUN_STAMP)
	$(BIN)/tarcza db upgrade
	$(BIN)/tarcza demo
	@echo "tarcza: http://$(HOST):$(PORT)/"
	$(BIN)/tarcza serve --host $(HOST) --port $(PORT)

# Debian's Chromium for the browser tests (never a downloaded browser build).
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| echo "chromium could not be installed: browser tests will skip (and fail in CI)"; \
	else echo "no /usr/bin/chromium and no root to install it: browser tests will skip"; fi

lint: $(DEV_STAMP)
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

# The Ray tests run in a process of their own: Ray 2.60 sometimes aborts its driver process
# ("Check failed: it != submissible_tasks_.end()" in task_manager.cc) when a scan is interrupted
# with tasks in flight, which would end the whole suite unreported. Such an abort is retried once.
RAY_TESTS := tests/hashing/test_scan_ray.py
test: $(DEV_STAMP) browser lint typecheck
	$(BIN)/pytest $(RAY_TESTS) || $(BIN)/pytest $(RAY_TESTS)
	$(BIN)/pytest --ignore=$(RAY_TESTS)

unit: $(DEV_STAMP)
	$(BIN)/pytest -m "not browser and not slow"

bench: $(DEV_STAMP)
	$(BIN)/python bench/intake.py

messages: $(RUN_STAMP)
	$(BIN)/python tools/messages.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
