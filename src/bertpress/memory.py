"""Keeping the process's memory bounded when batches come in many shapes.

Calibration, Fisher statistics, reconstruction, training and scoring run batches padded to their
own longest text, so nearly every batch has a new shape. oneDNN (PyTorch's CPU kernels for GELU among
others) builds a kernel for each new shape, and the short-lived buffers of those builds, freed
among activations, leave the C allocator's heap in pieces it keeps: measured on a pruned
all-MiniLM-L6-v2 (whose layers all differ in width), 8,192 SQuAD texts took the resident size to
4.6 GB before Fisher began and 5.5 GB during it, against 0.9 and 1.3 GB with oneDNN off, which was
also 11% faster (RESULTS.md, "Pipeline, layer dropping, bounded memory"); scoring a pruned
all-mpnet-base-v2 on STS-B and SQuAD retrieval peaked at 7.3 GB, 2.3 GB without. So those loops run
with PyTorch's own kernels; anything timed (latency, throughput) keeps PyTorch's defaults, as a
deployment runs.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def varying_shapes() -> Iterator[None]:
    """Run the block without oneDNN (results differ from it only by float rounding)."""
    enabled = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = enabled


def release_free_memory() -> None:
    """Hand the memory the C allocator keeps after frees back to the system (glibc's
    ``malloc_trim``; other C libraries have none). Called between phases: what one phase freed
    otherwise stays in the process beside the next one's."""
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None) if sys.platform.startswith("linux") else None
    if trim is not None:
        trim(0)
