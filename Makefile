# tarcza — `make run` serves the platform; `make test` runs the whole suite.
# Both work on a fresh machine: they create .venv and install what they need.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test setup browser lint typecheck unit bench messages clean

$(STAMP): pyproject.toml constraints.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,scale]'
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
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

lint: $(STAMP)
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) browser lint typecheck
	$(BIN)/pytest

unit: $(STAMP)
	$(BIN)/pytest -m "not browser and not slow"

bench: $(STAMP)
	$(BIN)/python bench/intake.py

messages: $(STAMP)
	$(BIN)/python tools/messages.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
