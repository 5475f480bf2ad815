# Two entry points for a fresh clone (see README "Quickstart"):
#   make run    set up .venv, then tune + serve the digits pipeline on an embedded Ray
#   make test   set up .venv, then lint and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch installs in seconds; `make TORCH=torch` takes the newest (CUDA) build.
TORCH ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: setup run test lint

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

run: setup
	$(BIN)/raylight run pipelines/digits/experiment.yaml

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

test: lint
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/pytest
