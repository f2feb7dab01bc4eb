# `make run` and `make test` each work on a fresh clone with only Python 3.10+ (and make):
# they create .venv when it is missing and install what they need first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SCENARIO ?= scenarios/quickstart.yaml

.PHONY: run test lint bench docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/clustersim simulate $(SCENARIO)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check clustersim tests benchmarks
	$(BIN)/mypy clustersim

test: $(VENV)/.installed-dev lint
	$(BIN)/python -m pytest

bench: $(VENV)/.installed-dev
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

docs: $(VENV)/.installed-dev
	$(BIN)/python -m clustersim.docsgen

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
