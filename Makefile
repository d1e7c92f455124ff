# cryptotrader — two commands do all set-up on a fresh machine with Python 3.11:
#   make run    create .venv if missing, install the pinned stack + package, run the main job
#   make test   same set-up, then every check (what CI runs through .ci/run)
SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -eu -o pipefail -c

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CONFIG ?= config/crypto/paper.kraken.crypto.global.yaml
LAB_PORT ?= 8888
export PYTHONHASHSEED := 0
export MPLBACKEND := Agg

.PHONY: help install browser run test sync-check nbtest pytest nbval lab clean-venv runtime-requirements wheel

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): requirements.txt setup.py settings.ini
	@$(PYTHON) -c 'import sys; v=sys.version_info[:2]; sys.exit(0 if v==(3,11) else "cryptotrader needs Python 3.11, found %d.%d (set PYTHON=...)" % v)'
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@$(MAKE) --no-print-directory browser
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install the pinned stack and the package

browser: ## Debian's chromium, for the dashboard's headless-browser test (apt-get; as root or with sudo)
	@command -v chromium >/dev/null 2>&1 || { sudo=$$([ "$$(id -u)" = 0 ] || echo "sudo -n"); \
	  (DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q chromium || { $$sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q chromium; }) >/dev/null \
	  || echo "could not install chromium: run 'apt-get install -y chromium' (tests/test_dashboard.py needs it)" >&2; }

run: $(STAMP) ## the main job: pre-flight, the paper trading service on the bundled Kraken data, then the nightly pipeline
	$(BIN)/cryptotrader verify --config $(CONFIG)
	$(BIN)/cryptotrader paper --config $(CONFIG)
	$(BIN)/cryptotrader nightly --config $(CONFIG) --force || [ $$? -eq 1 ]   # a FAIL verdict is a result, not an error
	$(BIN)/cryptotrader models --config $(CONFIG)
	$(BIN)/cryptotrader status --config $(CONFIG)

test: $(STAMP) ## every check: nbdev sync, notebooks, pytest, nbval
	$(MAKE) --no-print-directory sync-check nbtest pytest nbval

sync-check: $(STAMP) ## nbdev_export and nbdev_clean must leave no diff
	@before=$$(git status --porcelain; git diff | sha256sum)
	$(BIN)/nbdev_export
	$(BIN)/nbdev_clean
	@after=$$(git status --porcelain; git diff | sha256sum)
	@if [ "$$before" != "$$after" ]; then echo "✗ nbdev_export/nbdev_clean changed files: export and clean the notebooks, then commit"; git status --short; exit 1; fi
	@echo "✓ notebooks, package and clean state are in sync"

nbtest: $(STAMP) ## run every notebook in nbs/ (asserting cells)
	$(BIN)/nbdev_test --n_workers 2 --timing

pytest: $(STAMP) ## integration and end-to-end tests in tests/
	$(BIN)/python -m pytest -q -n 2 --dist loadfile tests

nbval: $(STAMP) ## execute the committed papermill notebooks with nbval
	@nbs=$$(ls scheduled_runs/*.ipynb 2>/dev/null || true)
	@if [ -n "$$nbs" ]; then $(BIN)/python -m pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env $$nbs; else echo "no papermill notebooks yet"; fi

lab: $(STAMP) ## JupyterLab for researchers on 127.0.0.1 with a token
	@token=$${JUPYTER_TOKEN:-$$($(BIN)/python -c 'import secrets; print(secrets.token_hex(16))')}
	@root=$$([ "$$(id -u)" = 0 ] && echo --allow-root || true)
	@echo "JupyterLab: http://127.0.0.1:$(LAB_PORT)/lab?token=$$token"
	$(BIN)/jupyter lab --no-browser --ip=127.0.0.1 --port=$(LAB_PORT) --IdentityProvider.token=$$token $$root --notebook-dir=nbs

runtime-requirements: $(STAMP) ## regenerate requirements-runtime.txt (the lock's runtime subset: what the image installs)
	$(BIN)/python scripts/runtime_requirements.py

wheel: $(STAMP) ## build the non-editable wheel (package + configs + bundled data + nightly notebooks) into dist/
	$(BIN)/python -m pip wheel --quiet --no-deps --no-build-isolation --wheel-dir dist .

clean-venv: ## remove .venv
	rm -rf $(VENV)
