# The two commands a user needs: `make up` and `make test`. Both (re)create .venv when it is
# missing or its Python is older than the project requires.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: up test lint unit check integration engine run clean

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
	$(BIN)/pytest tests/unit tests/policy tests/local -n 2 --cov=tap_cicd --cov-branch --cov-report=term-missing --cov-fail-under=100

# `tap check` (the policy pack, offline) and `tap check --access` (every call of the pipeline's
# path authorized as AWS would) on the default (ECS) and the GitHub source configuration.
check: $(STAMP)
	$(BIN)/tap check
	$(BIN)/tap check -c source=github \
		-c connectionArn=arn:aws:codestar-connections:us-east-1:123456789012:connection/0f3e2d1c-aaaa-bbbb-cccc-0123456789ab \
		-c repository=acme/service
	$(BIN)/tap check --access > /dev/null
	$(BIN)/tap check --access -c source=github \
		-c connectionArn=arn:aws:codestar-connections:us-east-1:123456789012:connection/0f3e2d1c-aaaa-bbbb-cccc-0123456789ab \
		-c repository=acme/service > /dev/null

# Deploy to a fresh emulator, run tests/integration, destroy, check nothing is left.
integration: $(STAMP)
	BIN=$(BIN) scripts/integration.sh

# A container engine for the builds `tap run` runs (tests/run): a Docker whose daemon answers, or
# Podman. Neither: as root, Podman from Debian's packages (it builds `FROM scratch` images
# without a daemon); otherwise one line saying what to install.
engine:
	@if docker info >/dev/null 2>&1 || command -v podman >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "make: installing podman (no container engine found)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman >/dev/null; \
	else \
		echo "make: no container engine: install Docker (with its daemon running) or Podman" >&2; exit 1; \
	fi

# `tap run` end to end: the example service through a real pipeline execution on a fresh emulator.
run: $(STAMP) engine
	$(BIN)/pytest tests/run -p no:cacheprovider

test: lint unit check integration run

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage
