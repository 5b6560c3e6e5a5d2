# One entry point for every command. `make lab` sets up and opens JupyterLab; `make test` sets up
# and runs every test (CI runs exactly this). Both are idempotent: a second run skips what is done.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PEERS_STAMP := $(VENV)/.peers-installed
NB ?= notebooks/*.ipynb notebooks/solutions/*.ipynb
# Keep torch's compile cache, matplotlib's and Jupyter's state out of the user's home and /tmp.
export TORCHINDUCTOR_CACHE_DIR := $(CURDIR)/build/inductor-cache
export MPLCONFIGDIR := $(CURDIR)/build/mplconfig
export PYDEVD_DISABLE_FILE_VALIDATION := 1
# Idle OpenMP threads sleep instead of spinning. With spinning, torch slows down 5x or more as soon
# as anything else wants a core (the browser tests' chromium, a second kernel): measured 63 s vs 12 s
# for the same 10 training steps on a loaded 2-core machine.
export OMP_WAIT_POLICY ?= PASSIVE
ALLOW_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: setup lab test lint notebooks site system-deps clean bench peers

$(STAMP): requirements.txt pyproject.toml
	bash scripts/system-deps.sh python
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

setup: $(STAMP)

lab: setup
	$(BIN)/jupyter lab --notebook-dir=notebooks $(ALLOW_ROOT)

system-deps:
	bash scripts/system-deps.sh test

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Two test processes (TEST_WORKERS=0 runs one), each taking whole files: a notebook's cells run in order in
# one kernel, and a file's fixtures (the site build, a JupyterLab server) are built once.
TEST_WORKERS ?= 2
test: setup system-deps lint
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

# Re-execute notebooks in place so their stored outputs match the library: `make notebooks`,
# or one of them: `make notebooks NB=notebooks/02_module_f5.ipynb`. First each gets the setup cell
# (installs the library on Colab) and loses its widget state: an explorer keeps its picture once,
# as its output (the site renders its other views). The peers are installed so that notebook 10's stored
# outputs show them beside the project's paths (those cells' outputs are not compared by nbval).
notebooks: setup peers
	$(BIN)/python -m website.prepare_notebooks $(NB)
	$(BIN)/jupyter nbconvert --to notebook --execute --inplace \
	  --ExecutePreprocessor.timeout=300 --NotebookClient.record_timing=False \
	  --NotebookClient.store_widget_state=False $(NB)

# The static course site in build/site (open build/site/index.html): README "Static site".
site: setup
	$(BIN)/python -m website.build --out build/site

# The optional peers of the inference benchmark (ONNX Runtime, OpenVINO): pyproject.toml's `peers` extra,
# constrained by requirements.txt so that pip keeps torch==2.13.0.
$(PEERS_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -c requirements.txt -e ".[peers]"
	touch $@

peers: $(PEERS_STAMP)

# Every performance figure in one run, written to benchmarks/RESULTS.md (about 20 minutes on 2 cores,
# most of it compiling): `make bench`, or `make bench BENCH_ARGS=--quick`. Installs the peers, and
# chromium for the browser latency.
bench: setup system-deps peers
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build
