# jonbu-ohlcv — every entry point a user or CI needs.
#   make demo   the whole stack on mock data (installs first)
#   make test   install everything, then lint, type-check and run every test
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup services frontend-setup chromium demo test test-py test-frontend lint typecheck bench dagster clean

$(STAMP): pyproject.toml setup.py $(shell find jonbu_core jonbu_stream -name "*.c")
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check uv
	$(VENV)/bin/pip install -q --disable-pip-version-check torch==2.13.0
	$(UV) pip install -q --python $(PY) -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP) ## create .venv and install the Python packages

services: ## start PostgreSQL and Redis when they are not running
	@pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start
	@redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 || redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
	@for i in $$(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done

chromium: ## Debian's Chromium for the browser tests
	@test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

frontend-setup:
	@if [ -f frontend/package.json ]; then cd frontend && npm ci --no-audit --no-fund --loglevel=error; fi

frontend-build: frontend-setup
	@if [ -f frontend/package.json ]; then cd frontend && npm run build; fi

lint: setup ## ruff
	$(VENV)/bin/ruff check .


typecheck: setup ## mypy (strict on jonbu_core)
	$(VENV)/bin/mypy

test-py: setup services
	$(VENV)/bin/pytest -q -p no:cacheprovider -n 2 --dist loadfile

test-frontend: frontend-build chromium setup services
	@if [ -f frontend/package.json ]; then cd frontend && npm test; fi

test: setup services lint typecheck test-py test-frontend ## everything CI runs

demo: setup frontend-build ## the whole stack on mock data
	$(VENV)/bin/jonbu-ohlcv up

dagster: setup ## the Dagster UI on :3000
	DAGSTER_HOME=$${DAGSTER_HOME:-$$PWD/data/dagster} && mkdir -p $$DAGSTER_HOME && \
	DAGSTER_HOME=$$DAGSTER_HOME $(VENV)/bin/dagster dev -w workspace.yaml -p 3000 -h 127.0.0.1

bench: setup services ## every bench/*.py; JSON in bench/results, table in bench/README.md
	@mkdir -p bench/results
	@for f in bench/*.py; do case $$f in */_*|*/report.py) continue;; esac; echo "== $$f"; $(PY) $$f || exit 1; done
	@test ! -f bench/report.py || $(PY) bench/report.py

clean:
	rm -rf $(VENV) frontend/node_modules frontend/dist .mypy_cache .ruff_cache
