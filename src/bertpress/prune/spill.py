"""A keyed store of tensors: in memory up to a budget, the rest spilled to files.

Reconstruction streams every calibration batch's hidden states through each layer; holding them
all in memory would grow with the number of samples. The store keeps tensors in memory while
their total size fits the budget and writes the others, one safetensors file each, to a
temporary folder (under ``$TMPDIR``) that is deleted when the store closes, also on an error or
KeyboardInterrupt. Replacing or popping an entry frees its memory or deletes its file.

The budget is ``memory_mb`` when given, else ``$BERTPRESS_MEMORY_MB``, else 512 MB; 0 spills
everything. It counts the bytes of the tensors kept. With glibc the process can hold more: kept
tensors sit among freed activations of similar size, which the allocator keeps instead of giving
back (measured: up to 2.5 times the bytes kept). A smaller budget trades that for file reads;
``MALLOC_MMAP_THRESHOLD_=131072`` in the environment avoids it too, but tuning took 1.5 times as
long with it (page faults).
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Hashable
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..errors import BertpressError

MEMORY_ENV = "BERTPRESS_MEMORY_MB"
DEFAULT_MEMORY_MB = 512.0


def memory_budget_mb(memory_mb: float | None = None) -> float:
    """``memory_mb``, else ``$BERTPRESS_MEMORY_MB``, else ``DEFAULT_MEMORY_MB``."""
    if memory_mb is None:
        setting = os.environ.get(MEMORY_ENV)
        try:
            memory_mb = float(setting) if setting else DEFAULT_MEMORY_MB
        except ValueError:
            raise BertpressError(f"${MEMORY_ENV} must be a number of megabytes, got '{setting}'") from None
    if not memory_mb >= 0:  # also refuses NaN
        raise BertpressError(f"the memory budget must be at least 0 MB, got {memory_mb}")
    return memory_mb


class SpillStore:
    """``put``/``get``/``pop`` tensors by key; use as a context manager (or call ``close``)."""

    def __init__(self, memory_mb: float):
        self.budget_bytes = int(memory_mb * 2**20)
        self._in_memory: dict[Hashable, torch.Tensor] = {}
        self._on_disk: dict[Hashable, tuple[Path, int, str]] = {}  # path, bytes, device
        self._folder: Path | None = None  # created at the first spill
        self._file_names = itertools.count()
        self.memory_bytes = 0
        self.disk_bytes = 0
        self.peak_disk_bytes = 0

    @property
    def folder(self) -> Path | None:
        return self._folder

    def __len__(self) -> int:
        return len(self._in_memory) + len(self._on_disk)

    def put(self, key: Hashable, tensor: torch.Tensor) -> None:
        """Store ``tensor`` under ``key``, replacing what was there. Do not modify it afterwards."""
        self.discard(key)
        size = tensor.numel() * tensor.element_size()
        if self.memory_bytes + size <= self.budget_bytes:
            self._in_memory[key] = tensor
            self.memory_bytes += size
        else:
            self._spill(key, tensor, size)

    def get(self, key: Hashable) -> torch.Tensor:
        if key in self._in_memory:
            return self._in_memory[key]
        path, _, device = self._on_disk[key]
        return load_file(path, device=device)["tensor"]

    def pop(self, key: Hashable) -> torch.Tensor:
        tensor = self.get(key)
        self.discard(key)
        return tensor

    def discard(self, key: Hashable) -> None:
        if key in self._in_memory:
            tensor = self._in_memory.pop(key)
            self.memory_bytes -= tensor.numel() * tensor.element_size()
        elif key in self._on_disk:
            path, size, _ = self._on_disk.pop(key)
            path.unlink()
            self.disk_bytes -= size

    def close(self) -> None:
        """Forget every entry and delete the folder."""
        self._in_memory.clear()
        self._on_disk.clear()
        self.memory_bytes = self.disk_bytes = 0
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def __enter__(self) -> SpillStore:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def _spill(self, key: Hashable, tensor: torch.Tensor, size: int) -> None:
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="bertpress-spill-"))
        path = self._folder / f"{next(self._file_names)}.safetensors"
        save_file({"tensor": tensor.contiguous()}, path)
        self._on_disk[key] = (path, size, str(tensor.device))
        self.disk_bytes += size
        self.peak_disk_bytes = max(self.peak_disk_bytes, self.disk_bytes)
