# The two commands a user needs: `make up` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint unit integration clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict src

unit: $(STAMP)
	$(BIN)/pytest tests/unit --cov=tap_cicd --cov-branch --cov-report=term-missing --cov-fail-under=100

# Deploy to a fresh emulator, run tests/integration, destroy, check nothing is left.
integration: $(STAMP)
	BIN=$(BIN) scripts/integration.sh

test: lint unit integration

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage
