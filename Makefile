PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test test-fast lint demo rehearse clean

install: $(STAMP)

$(STAMP): pyproject.toml chalice_app/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev,bench]"
	touch $(STAMP)

test: install
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

lint: install
	$(BIN)/ruff check chalice_app projections scripts tests
	$(BIN)/mypy chalice_app/app.py chalice_app/chalicelib projections scripts tests

demo: install
	$(BIN)/python scripts/demo.py

rehearse: install
	$(BIN)/python scripts/deploy_rehearsal.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
