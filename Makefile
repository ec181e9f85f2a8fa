# Every target bootstraps .venv from pyproject.toml by itself: on a fresh clone
# `make generate` and `make test` are the only two commands anyone needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
GENERATED := generated_example
PYTEST_ARGS ?=

.PHONY: setup generate check lint typecheck pytest test bench demo clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

generate: $(STAMP)
	$(BIN)/spectorgen generate

check: $(STAMP)
	$(BIN)/spectorgen check

lint: $(STAMP)
	$(BIN)/ruff check generator tests bench $(GENERATED)
	$(BIN)/ruff format --check generator tests bench $(GENERATED)

typecheck: $(STAMP)
	$(BIN)/mypy generator tests bench
	$(BIN)/mypy $(GENERATED)
	$(BIN)/basedpyright

pytest: $(STAMP)
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

test: lint typecheck check pytest

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench

demo: $(STAMP)
	$(BIN)/python -m generated_example.demo

clean:
	rm -rf $(VENV) build dist .mypy_cache .ruff_cache .pytest_cache
