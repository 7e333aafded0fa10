"""Seeded subsets of a dataset (training subsets, calibration sets)."""

from __future__ import annotations

from datasets import Dataset

from ..errors import BertpressError


def sample(dataset: Dataset, num_samples: int, seed: int) -> Dataset:
    """``num_samples`` examples drawn without replacement; the same seed draws the same ones.

    The whole dataset (in its order) when it has no more than ``num_samples`` examples.
    """
    if num_samples < 1:
        raise BertpressError(f"the number of samples must be at least 1, not {num_samples}")
    if num_samples >= len(dataset):
        return dataset
    # keep_in_memory: the shuffled index list is small; no cache file for it.
    return dataset.shuffle(seed=seed, keep_in_memory=True).select(range(num_samples))
