# galactic-clustering: `make book` renders the study, `make test` checks it reproduces.
# Every target sets up .venv on first use (python3 -m venv + pip install -e '.[dev]').
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PARAMS ?= params/demo.yml
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export NUMBA_CACHE_DIR := $(CURDIR)/.cache/numba
export PYDEVD_DISABLE_FILE_VALIDATION := 1

NBVAL := --nbval  # the rest of the replay's options are in pyproject.toml, so plain pytest --nbval agrees
# make test on two processes: the replay's chapters in order on one, the other tests beside it
# (conftest.py); TEST_WORKERS=0 runs everything in one process, as plain pytest does
TEST_WORKERS ?= 2
XDIST := $(if $(filter 0,$(TEST_WORKERS)),-p no:xdist,-n $(TEST_WORKERS))

.PHONY: help setup browser book book-committed chapters refresh data lock test unit quick nbval lint bench check-unseen clean clean-data

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-15s %s\n", $$1, $$2}'
	@echo "  variables: PARAMS=$(PARAMS) (e.g. PARAMS=params/kaggle.yml for the real data)"

$(VENV)/.installed: pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@echo "installing the project and its pinned dependencies into $(VENV) (a few minutes the first time)"
	$(PY) -m pip install --progress-bar off -c constraints.txt -e '.[dev]' 2>&1 \
	  | sed -n -E '/^(Collecting|Successfully|ERROR|error)/p'   # pipefail keeps pip's exit status
	@touch $@

setup: $(VENV)/.installed ## create .venv and install the project with its dev extras (once)

browser: ## install Debian's Chromium for the browser test of the book (apt-get; root or sudo), once
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  echo "installing Debian's chromium (apt-get) for the browser test"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }
	@chromium --version

book: setup ## run every chapter on $(PARAMS) with papermill, then render _build/html
	$(PY) -m helpers run --params $(PARAMS)

book-committed: setup ## render the committed notebooks into _build/html (runs nothing, ~1 min)
	$(PY) -m helpers run --committed

chapters: setup ## run the chapters on $(PARAMS) without rendering the book
	$(PY) -m helpers run --params $(PARAMS) --no-book

refresh: setup ## re-execute the chapters on params/demo.yml and write them back as the committed outputs
	$(PY) -m helpers run --params params/demo.yml --no-book --refresh

data: setup ## generate the demo mock Galaxy Zoo if it is missing
	$(PY) -m helpers prepare --params params/demo.yml

lint: setup ## ruff on the package, tests, benchmarks and notebook sources
	$(PY) -m ruff check src tests benchmarks notebooks

unit: setup ## unit tests and doctests only
	$(PY) -m pytest $(XDIST) --doctest-modules src/helpers tests

quick: setup ## unit tests and doctests without those marked slow (a few minutes; make test runs all)
	$(PY) -m pytest $(XDIST) --doctest-modules -m "not slow" src/helpers tests

nbval: data ## replay the committed notebooks with nbval
	$(PY) -m pytest $(NBVAL) notebooks

test: data lint browser ## lint, unit tests, doctests, the nbval replay and the browser test of the book
	$(PY) -m pytest $(XDIST) --doctest-modules --ignore-glob='notebooks/*.py' $(NBVAL) src/helpers tests notebooks

lock: setup ## rewrite constraints.txt from .venv (after changing dependencies; then make refresh)
	@{ echo "# The pinned environment: the versions the committed notebook outputs were made with."; \
	   echo "# make setup installs with these constraints; make lock rewrites this file from .venv."; \
	   $(PY) -m pip freeze --exclude-editable | grep -v -E '^(-e |galactic-clustering)'; } > constraints.txt

bench: setup ## run the benchmarks (ratios in one process; see README)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b; done

check-unseen: setup ## featurize + similar on images of an independent generator (needs a trained run: make book)
	$(PY) benchmarks/check_unseen.py

clean: ## remove the rendered book and caches (keeps data and .venv)
	rm -rf _build .pytest_cache .ruff_cache .cache

clean-data: ## remove generated data and run artifacts (data/synthetic, data/processed)
	rm -rf data/synthetic data/processed
