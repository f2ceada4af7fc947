# The two commands a user needs: `make up` and `make test`. Both (re)create .venv when it is
# missing or its Python is older than the project requires.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: up test lint unit check integration clean

# requires-python in pyproject.toml (">=3.11"): a .venv whose Python is older, or broken, is
# made again (and with it the installed project).
MIN_PYTHON := $(shell sed -n 's/^requires-python = ">=\([0-9.]*\)"/\1/p' pyproject.toml)
PYTHON_CHECK = -c 'import sys; sys.exit(sys.version_info < ($(subst .,$(comma) ,$(MIN_PYTHON)),))'
comma := ,
ifneq ($(shell $(BIN)/python $(PYTHON_CHECK) 2>/dev/null && echo ok),ok)
.PHONY: $(BIN)/python
endif

$(BIN)/python:
	@$(PYTHON) $(PYTHON_CHECK) || { echo "make: $(PYTHON) is older than Python $(MIN_PYTHON) (requires-python): run make PYTHON=python$(MIN_PYTHON) or newer" >&2; exit 1; }
	rm -rf $(VENV)
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
