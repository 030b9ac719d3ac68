# tolov: `make run` starts the local stack, `make test` runs every test. Both set up .venv when needed.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Lambda runs python3.13: pyenv's 3.13 if there is one (not on PATH on our machines), else python3.13 on PATH.
PYTHON313 ?= $(or $(lastword $(sort $(wildcard $(shell pyenv root 2>/dev/null)/versions/3.13*/bin/python3.13))),$(shell command -v python3.13 2>/dev/null))
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# sam build looks for python3.13 on PATH; the venv provides it.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export SAM_CLI_TELEMETRY := 0

.PHONY: help venv run test test-fast lint checks build deploy deploy-prod bench conformance load clean

help:
	@echo "make run     start the local stack on http://127.0.0.1:3000, the Payme Subscribe simulator on"
	@echo "             http://127.0.0.1:3001/api (SEED=1 loads demo data,"
	@echo "             VERBOSE=1 shows function logs here, not only in .local-run/stack.log)"
	@echo "make test    unit, integration, e2e and template checks, plus ruff and mypy"
	@echo "make conformance URL=… [INVOICE=…]  Payme's sandbox scenarios and Click's tester lists against a stage"
	@echo "             (PAYME_KEY, CLICK_SERVICE_ID, CLICK_SECRET_KEY, BILLING_API_KEY from the environment)"
	@echo "make load    mixed Payme, Click and billing traffic against a local stack of its own (127.0.0.1),"
	@echo "             CLIENTS=8 DURATION=30 s per table size, SIZES=0,500,1000 invoices (a few minutes)"
	@echo "make lint | checks | build | deploy | deploy-prod | bench | clean"

$(STAMP): requirements-dev.txt layers/common/requirements.txt constraints.txt
	@test -n "$(PYTHON313)" || { echo "python3.13 not found: install it (pyenv install 3.13) and retry"; exit 1; }
	@test -x $(PY) || $(PYTHON313) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	@touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	@$(PY) -m local.stack $(if $(SEED),--seed)

# Tests run in parallel, one pytest-xdist worker per core (PYTEST_WORKERS=0: all in this process);
# every moto account, local stack and port is a test's own.
PYTEST_WORKERS ?= auto
PYTEST := $(PY) -m pytest -n $(PYTEST_WORKERS)

test: $(STAMP) lint
	$(PYTEST) tests

test-fast: $(STAMP)
	$(PYTEST) tests -m "not e2e and not checks"

lint: $(STAMP)
	$(PY) -m ruff check layers functions local tests bench tolov_conformance
	$(PY) -m mypy

# checkov has dependencies of its own that clash with SAM CLI's: it lives in .venv-checkov.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

$(CHECKOV_STAMP): .ci/checkov-requirements.txt
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON313) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r .ci/checkov-requirements.txt
	@touch $(CHECKOV_STAMP)

checks: $(STAMP) $(CHECKOV_STAMP)
	$(CHECKOV_VENV)/bin/checkov --config-file .ci/checkov.yaml -f template.yaml
	$(PY) -m pytest tests -m checks

build: $(STAMP)
	$(VENV)/bin/sam build

deploy: build
	$(VENV)/bin/sam deploy --guided

deploy-prod: build
	$(VENV)/bin/sam deploy --config-env prod

bench: $(STAMP)
	@for script in bench/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

# The conformance runner (tolov_conformance/): standard library only, against any base URL.
conformance: $(STAMP)
	@test -n "$(URL)" || { echo "usage: make conformance URL=https://… [INVOICE=…]"; exit 2; }
	@$(PY) -m tolov_conformance --url "$(URL)" $(if $(INVOICE),--invoice "$(INVOICE)")

# The load test (bench/load.py): a local stack of its own on 127.0.0.1, bounded in time and count.
CLIENTS ?= 8
DURATION ?= 30
SIZES ?= 0,500,1000
load: $(STAMP)
	$(PY) bench/load.py --clients $(CLIENTS) --seconds $(DURATION) --sizes $(SIZES)

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache $(CHECKOV_VENV)
