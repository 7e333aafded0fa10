"""Sentence-embedding pooling, read from and written to a sentence-transformers folder.

A sentence-transformers folder is a list of modules (``modules.json``): the transformer at the
folder's root, a ``Pooling`` module (its ``config.json`` names the mode) and optionally
``Normalize``. Pooling is data, so bertpress computes it itself, the same way
sentence-transformers does, and writes the same files back beside a compressed encoder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from ..errors import BertpressError

MODES = ("mean", "cls", "max")
_MODULE = "sentence_transformers.models."
# Modules a folder may list besides these would change the embedding: refuse them rather than ignore them.
_SUPPORTED = {"Transformer", "Pooling", "Normalize"}


@dataclass(frozen=True)
class Pooling:
    """How token embeddings become one sentence embedding."""

    mode: Literal["mean", "cls", "max"] = "mean"
    normalize: bool = False  # scale each embedding to unit length (a Normalize module)
    max_seq_length: int | None = None  # sentence-transformers truncates inputs to this many tokens

    def __post_init__(self):
        if self.mode not in MODES:
            raise BertpressError(f"unknown pooling '{self.mode}' (known: {', '.join(MODES)})")

    def __call__(self, token_embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.mode == "cls":
            pooled = token_embeddings[:, 0]
        elif self.mode == "max":
            padding = attention_mask.unsqueeze(-1) == 0
            pooled = token_embeddings.masked_fill(padding, torch.finfo(token_embeddings.dtype).min).amax(1)
        else:
            weights = attention_mask.unsqueeze(-1).to(token_embeddings.dtype)
            pooled = (token_embeddings * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2, dim=-1) if self.normalize else pooled

    @property
    def reads_first_token_only(self) -> bool:
        return self.mode == "cls"

    @classmethod
    def read(cls, folder: str | Path) -> Pooling | None:
        """The pooling a sentence-transformers folder declares; None when it has no ``modules.json``."""
        folder = Path(folder)
        listing = folder / "modules.json"
        if not listing.is_file():
            return None
        try:
            modules = json.loads(listing.read_text())
            kinds = {module["type"].removeprefix(_MODULE): module.get("path", "") for module in modules}
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise BertpressError(f"{listing} is not a sentence-transformers module list ({error})") from error
        unsupported = sorted(set(kinds) - _SUPPORTED)
        if unsupported:
            raise BertpressError(
                f"{folder} has sentence-transformers module(s) {', '.join(unsupported)}; bertpress handles "
                f"Transformer, Pooling and Normalize only"
            )
        if "Pooling" not in kinds:
            return None
        return cls(_read_mode(folder / kinds["Pooling"] / "config.json"), "Normalize" in kinds, _max_length(folder))

    def write(self, folder: str | Path, dimension: int) -> None:
        """The sentence-transformers files of a folder whose root holds the transformer."""
        folder = Path(folder)
        modules = [("Transformer", ""), ("Pooling", "1_Pooling"), *([("Normalize", "2_Normalize")] if self.normalize else [])]
        listing = [{"idx": i, "name": str(i), "path": path, "type": _MODULE + kind} for i, (kind, path) in enumerate(modules)]
        (folder / "modules.json").write_text(json.dumps(listing, indent=2) + "\n")
        (folder / "1_Pooling").mkdir(exist_ok=True)
        flags = {f"pooling_mode_{name}": self.mode == mode for name, mode in _FLAGS.items()}
        pooling = {"word_embedding_dimension": dimension, **flags, "pooling_mode_mean_sqrt_len_tokens": False}
        (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling, indent=2) + "\n")
        if self.normalize:
            (folder / "2_Normalize").mkdir(exist_ok=True)
        settings = {"max_seq_length": self.max_seq_length or 512, "do_lower_case": False}
        (folder / "sentence_bert_config.json").write_text(json.dumps(settings, indent=2) + "\n")


# sentence-transformers' config flag for each mode.
_FLAGS = {"cls_token": "cls", "mean_tokens": "mean", "max_tokens": "max"}


def _read_mode(path: Path) -> str:
    """The one pooling mode a ``1_Pooling/config.json`` turns on (old flags or the newer ``pooling_mode``)."""
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise BertpressError(f"could not read the pooling configuration {path} ({error})") from error
    if isinstance(config.get("pooling_mode"), str):
        named = config["pooling_mode"].replace("_token", "").replace("_tokens", "")
        on = [named]
    else:
        on = [key.removeprefix("pooling_mode_") for key, value in config.items() if key.startswith("pooling_mode_") and value]
        on = [_FLAGS.get(name, name) for name in on]
    if len(on) != 1 or on[0] not in MODES:
        raise BertpressError(f"{path}: pooling {' + '.join(on) or 'none'} is not supported (supported: {', '.join(MODES)})")
    return on[0]


def _max_length(folder: Path) -> int | None:
    settings = folder / "sentence_bert_config.json"
    if not settings.is_file():
        return None
    try:
        return json.loads(settings.read_text()).get("max_seq_length")
    except ValueError as error:
        raise BertpressError(f"could not read {settings} ({error})") from error
