"""Tokenizing examples once, then cutting them into dynamically padded batches."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from datasets import Dataset
from transformers import DataCollatorWithPadding


def encode(dataset: Dataset, tokenizer, max_length: int = 128) -> Dataset:
    """``input_ids``, ``attention_mask`` [, ``token_type_ids``] and ``labels``, unpadded.

    A sentence pair is truncated ``longest_first``: the longer text loses tokens first.
    """
    pair = "text_b" in dataset.column_names

    def tokenize(examples: dict) -> dict:
        second = examples["text_b"] if pair else None
        return tokenizer(examples["text_a"], second, truncation="longest_first", max_length=max_length)

    texts = [name for name in dataset.column_names if name != "label"]
    encoded = dataset.map(tokenize, batched=True, remove_columns=texts, desc="tokenizing")
    return encoded.rename_column("label", "labels")


def batches(encoded: Dataset, tokenizer, batch_size: int, **options) -> list[dict[str, torch.Tensor]]:
    """All of ``iter_batches`` at once; the same options (``shuffle``, ``seed``, ``sort_by_length``)."""
    return list(iter_batches(encoded, tokenizer, batch_size, **options))


def iter_batches(
    encoded: Dataset,
    tokenizer,
    batch_size: int,
    *,
    shuffle: bool = False,
    seed: int = 0,
    sort_by_length: bool = False,
) -> Iterator[dict[str, torch.Tensor]]:
    """Batches padded to their own longest example; ``labels`` is long, or float for regression.

    One at a time, so a long epoch never holds all of its padded tensors. ``sort_by_length`` puts
    examples of similar length together (less padding, faster); with ``shuffle`` too, the batches
    themselves come in a seeded random order.
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(encoded)) if shuffle else np.arange(len(encoded))
    if sort_by_length:
        lengths = np.fromiter((len(ids) for ids in encoded["input_ids"]), dtype=np.int64, count=len(encoded))
        order = order[np.argsort(lengths[order], kind="stable")]
    chunks = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    if shuffle and sort_by_length:
        rng.shuffle(chunks)
    collate = DataCollatorWithPadding(tokenizer, return_tensors="pt")
    for chunk in chunks:
        yield collate(_rows(encoded[chunk.tolist()]))


def _rows(columns: dict[str, list]) -> list[dict]:
    """``{"a": [1, 2], "b": [3, 4]}`` -> ``[{"a": 1, "b": 3}, {"a": 2, "b": 4}]``."""
    return [dict(zip(columns, values)) for values in zip(*columns.values())]


def mean_length(batches: list[dict[str, torch.Tensor]]) -> float:
    """Mean tokenized length of the examples in ``batches`` (the s of the MACs formulas)."""
    lengths = torch.cat([batch["attention_mask"].sum(1) for batch in batches])
    return float(lengths.float().mean())
