# Two entry points for a fresh machine (Python 3.10+ and pip):
#   make demo   set up .venv and run the main job on a built-in default (a generated apartment)
#   make test   set up .venv and run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.m2h-installed
# torch and torchvision are pinned as a verified pair (CPU works; CUDA used when present).
TORCH := torch==2.14.1 torchvision==0.29.1
DEMO_OUT := out/demo

.PHONY: setup demo test clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: setup
	$(BIN)/m2h-slam synth $(DEMO_OUT)/apartment --seed 0 --frames 150 --force
	$(BIN)/m2h-slam run $(DEMO_OUT)/apartment --out $(DEMO_OUT)/run --force
	$(BIN)/m2h-slam eval $(DEMO_OUT)/run --gt $(DEMO_OUT)/apartment --scale

test: setup
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis
