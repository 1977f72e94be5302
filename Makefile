# locomt: `make help` lists the targets. Every target builds .venv first when it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# torch is pinned in the same pip command as lightning and torchmetrics: without the pin pip
# resolves torch for them and pulls a multi-GB CUDA build (see ../shared/notes/method.md).
PIP_PINS := "torch==2.13.0" "lightning>=2.6,<2.7" "torchmetrics>=1.4"
PRESET ?= audioset-vitb
DATASET ?= synthetic-medvidcl
PORT ?= 8080
# test processes (pytest-xdist; auto = one per CPU core), each test file in one of them, each with one
# torch thread: on 2 cores the suite takes 8-13 minutes (pytest 462-484 s, 1140-1143 tests, idle AMD EPYC VM,
# 2026-12-05 01:15-02:10 UTC; the same VM, idle too, took 767 s for 1123 tests on 2026-12-04 19:24: its speed varies)
TEST_WORKERS ?= auto
TEST_RUN := OMP_NUM_THREADS=1 $(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

.DEFAULT_GOAL := help
.PHONY: help venv sweep report dashboard ablate-list test test-fast flops paper-flops bench startup-bench clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(PIP_PINS) -e ".[test]"
	@# librosa compiles its numba kernels on first use and caches them in .venv: about 25 s, which every
	@# decoding process of a fresh .venv would otherwise pay at once (2090 clips: 52 s instead of 26 s)
	$(PY) -c "import numpy as np; from locomt.data.audio import log_mel; log_mel(np.zeros(16000, np.float32))"
	@touch $@

venv: $(VENV)/.installed ## build .venv with the pinned dependencies (done by every target)

sweep: $(VENV)/.installed ## Optuna sweep of view patterns on DATASET (default synthetic-medvidcl) -> results/DATASET/
	$(PY) -m locomt.sweep --dataset $(DATASET) $(SWEEP_ARGS)

report: $(VENV)/.installed ## regenerate results/DATASET/ tables and plot from the sweep's study
	$(PY) -m locomt.report results/$(DATASET)

dashboard: $(VENV)/.installed ## browse the study of results/DATASET with optuna-dashboard on http://127.0.0.1:PORT (default 8080)
	$(PY) -m locomt.dashboard results/$(DATASET) --port $(PORT)

ablate-list: $(VENV)/.installed ## GFLOPs of every view-pattern preset and baseline on DATASET (python -m locomt.ablate)
	$(PY) -m locomt.ablate --dataset $(DATASET) --patterns

test: $(VENV)/.installed ## run the whole test suite, as CI does (CPU, minutes; one process per core, TEST_WORKERS=0 for one in all)
	$(TEST_RUN)

test-fast: $(VENV)/.installed ## the tests not marked slow (no training, sweeps or subprocess commands): for local work
	$(TEST_RUN) -m "not slow"

flops: $(VENV)/.installed ## GFLOPs table of every backbone at PRESET (default audioset-vitb)
	$(PY) -m locomt.flops --preset $(PRESET) --pattern half --pattern all-cross

paper-flops: $(VENV)/.installed ## regenerate results/flops/paper_scale.csv
	$(PY) -m locomt.flops --preset audioset-vitb --preset audioset-vitb-32f --preset medvidcl-vitb \
		--preset medvidcl-vitb-long --pattern all-self --pattern half --pattern all-cross --pattern bottom-self \
		--csv results/flops/paper_scale.csv

bench: $(VENV)/.installed ## time one fusion layer and the whole model per backbone (CPU; CUDA when present)
	$(PY) -m locomt.bench --csv results/bench/bench_$$(uname -n).csv

startup-bench: $(VENV)/.installed ## time every command's --help, bad option and config error (fresh processes) -> results/startup/
	$(PY) -m locomt.startbench --repeats 5 --csv results/startup/startup.csv

clean: ## remove caches (keeps .venv and results/)
	rm -rf .pytest_cache build *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
