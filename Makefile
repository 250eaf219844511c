# Two commands set everything up on a fresh machine:
#   make demo   runs the main job (the flows on a local-folder bucket)
#   make test   runs ruff, mypy and the whole test suite
# Each creates .venv and installs what it needs on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: demo test lint bench browser

$(PY):
	python3 -m venv $(VENV)
	$(PIP) --upgrade pip

$(VENV)/.flows: pyproject.toml | $(PY)
	$(PIP) -e ".[flows]"
	touch $@

$(VENV)/.test: pyproject.toml | $(PY)
	$(PIP) -e ".[test]"
	touch $@

$(VENV)/.bench: pyproject.toml | $(PY)
	$(PIP) -e ".[test,bench]"
	touch $@

demo: $(VENV)/.flows
	$(PY) -m flows.demo

lint: $(VENV)/.test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The web catalog's browser tests drive Debian's Chromium through Playwright (which never
# downloads a browser of its own); installed here when missing and we may, else they skip.
browser:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get > /dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; fi

test: lint browser
	$(VENV)/bin/pytest -q

# make bench: every row of issue 13's targets, ~30 min on a quiet 2-core machine; results in
# bench/RESULTS.md. For development: make bench BENCH_ARGS="--quick --only w1,scaling"
# Bytecode is compiled first, as pip does when it installs a wheel: an editable install under
# PYTHONDONTWRITEBYTECODE=1 would otherwise recompile t4 in every process (40-60 ms each).
bench: $(VENV)/.bench
	$(PY) -m compileall -q t4 t4flows flows bench > /dev/null
	$(PY) -m bench.run $(BENCH_ARGS)
