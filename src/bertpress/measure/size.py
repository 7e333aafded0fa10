"""Size of a model's weights on disk, in megabytes (10^6 bytes)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from torch import nn

from ..errors import BertpressError
from ..runtime.backends import EXPORTED_FILES, weight_file

# What loads from a model folder, in the order loaders prefer them: the first pattern that
# matches names the weights (safetensors shards, else .bin shards, else an exported model's).
_WEIGHT_PATTERNS = ("model*.safetensors", "pytorch_model*.bin", *(weight_file(file) for file in EXPORTED_FILES))


def weights_size_mb(path: str | Path) -> float:
    """Size of the weight file ``path``, or of the weight file(s) in folder ``path``."""
    path = Path(path)
    if path.is_file():
        return _megabytes([path])
    for pattern in _WEIGHT_PATTERNS:
        files = sorted(path.glob(pattern))
        if files:
            return _megabytes(files)
    raise BertpressError(f"no model weights in {path}")


def state_dict_size_mb(module: nn.Module) -> float:
    """Size of ``module``'s weights as they are in memory (fp32, int8, ...), saved with ``torch.save``."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "weights.pt"
        torch.save(module.state_dict(), path)
        return weights_size_mb(path)


def _megabytes(files: list[Path]) -> float:
    return round(sum(file.stat().st_size for file in files) / 1e6, 3)
