# The course's commands. Every target creates .venv on first use and reuses it afterwards.
#   make lab      install the course and open JupyterLab on lessons/
#   make test     install with the dev extras and run every test
#   make test-fast  only the fast tier: unit tests (no notebook runs, browser or grading batches)
#   make course   run every lesson headless (full mode); executed notebooks and HTML go to build/
#   make release  regenerate lessons/ from solutions/
#   make lint     ruff (lint and format, notebooks included) and the release check
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
# JupyterLab refuses to start as root unless told it is deliberate.
ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: lab test test-fast lint course release install install-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Stamps: reinstall only when the package definition or the pinned versions change.
$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) install --quiet -c constraints.txt -e .
	$(BIN)/python -m course_tools.kernel
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install --quiet -c constraints.txt -e '.[dev]'
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

lab: install
	$(BIN)/jupyter lab --ServerApp.root_dir=lessons $(ROOT_FLAG)

# Two workers (one per core); the tests of a file stay on one worker, so module fixtures are
# built once (--dist loadfile).
test: install-dev
	$(BIN)/python -m pytest -n 2 --dist loadfile --durations=20

test-fast: install-dev
	$(BIN)/python -m pytest -m "not slow" -n 2 --dist loadfile -q

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/autograder release --check

course: install
	$(BIN)/course run

release: install
	$(BIN)/autograder release

clean:
	rm -rf build .pytest_cache
