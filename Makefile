# Two entry points, both from nothing: `make demo` (the main job, no cluster needed) and
# `make test` (lint, types, import contracts, tests). Everything installs into .venv.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: demo test install system-deps

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/.installed

demo: $(BIN)/.installed
	$(BIN)/autoscaler demo

# The tests run a real Prometheus server and build network namespaces (`ip`): install
# Debian's packages when we can, else say how.
system-deps:
	@command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 \
	  && command -v ip >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends prometheus iproute2; \
	  else \
	    echo "make test needs Prometheus and iproute2: sudo apt-get install prometheus iproute2"; \
	    exit 1; \
	  fi; }

test: $(BIN)/.installed system-deps
	$(BIN)/ruff check algorithms autoscaler tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest
