# Two commands set everything up on a fresh machine:
#   make demo   runs the main job on a local-folder bucket
#   make test   runs the checks and the test suite
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test bench lint

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,bench]"
	touch $@

demo: $(VENV)/.installed
	$(PY) -m flows.demo

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: $(VENV)/.installed lint
	$(VENV)/bin/pytest -q

bench: $(VENV)/.installed
	$(PY) -m bench.run
