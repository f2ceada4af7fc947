# The two commands a user needs: `make up` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: up test lint unit check integration clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Deploy the stack to the embedded emulator (started on 127.0.0.1:4566 when not running).
up: $(STAMP)
	$(BIN)/tap emulator start
	$(BIN)/tap up

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict src

unit: $(STAMP)
	$(BIN)/pytest tests/unit tests/policy tests/local --cov=tap_cicd --cov-branch --cov-report=term-missing --cov-fail-under=100

# `tap check` (the policy pack, offline) on the default and the GitHub source configuration.
check: $(STAMP)
	$(BIN)/tap check
	$(BIN)/tap check -c source=github \
		-c connectionArn=arn:aws:codestar-connections:us-east-1:123456789012:connection/0f3e2d1c-aaaa-bbbb-cccc-0123456789ab \
		-c repository=acme/service

# Deploy to a fresh emulator, run tests/integration, destroy, check nothing is left.
integration: $(STAMP)
	BIN=$(BIN) scripts/integration.sh

test: lint unit check integration

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage
