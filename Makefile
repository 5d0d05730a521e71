# LabelHub: `make run` serves the demo with a worker; `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 2

.PHONY: install run worker web test lint format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Re-install when the pins change; the stamp keeps a second `make run` fast.
$(VENV)/.installed: pyproject.toml requirements/constraints.txt | $(BIN)/python
	$(BIN)/pip install -q -c requirements/constraints.txt -e ".[dev]"
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	@echo "LabelHub at http://$(HOST):$(PORT)/ (Ctrl-C stops the web server and the worker)"
	$(BIN)/python -m labelhub.devrun --host $(HOST) --port $(PORT) --workers $(WORKERS)

worker: install
	$(BIN)/celery -A labelhub worker --loglevel=info --concurrency=$(WORKERS)

# Tests keep their own broker folder so a running `make run` worker never takes their jobs.
test: install
	CELERY_BROKER_DIR=$${CELERY_BROKER_DIR:-$(CURDIR)/var/test-celery} $(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check accounts labeling labelhub analysis tests benchmarks

format: install
	$(BIN)/ruff format accounts labeling labelhub analysis tests benchmarks
	$(BIN)/ruff check --fix .

clean:
	rm -rf var/celery var/test-*
