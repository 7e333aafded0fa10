VENV ?= .venv
PY := $(VENV)/bin/python
# The shared teachers and GLUE data that integration tests read (never committed).
export BERTPRESS_SHARED ?= $(abspath ../shared)

.PHONY: install test bench

install:
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first: the CPU build on this machine, so pip pulls no CUDA packages.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev]"

test:
	$(PY) -m pytest -q

bench:
	$(PY) benchmarks/prune_glue.py
