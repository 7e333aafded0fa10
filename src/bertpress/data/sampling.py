"""Seeded subsets of a dataset (training subsets, calibration sets)."""

from __future__ import annotations

import numpy as np
from datasets import Dataset

from ..errors import BertpressError

# A column of example groups: the rows of one group (a question and its paragraph) are drawn
# together and kept next to each other in training batches.
GROUP = "group"


def sample(dataset: Dataset, num_samples: int, seed: int) -> Dataset:
    """``num_samples`` examples drawn without replacement; the same seed draws the same ones.

    The whole dataset (in its order) when it has no more than ``num_samples`` examples. With a
    ``GROUP`` column, whole groups are drawn, in the drawn order, until ``num_samples`` rows.
    """
    if num_samples < 1:
        raise BertpressError(f"the number of samples must be at least 1, not {num_samples}")
    if num_samples >= len(dataset):
        return dataset
    if GROUP in dataset.column_names:
        units = group_rows(np.asarray(dataset[GROUP]))
        drawn = draw_groups([len(unit) for unit in units], num_samples, seed)
        return dataset.select(np.concatenate([units[index] for index in drawn]).tolist(), keep_in_memory=True)
    # keep_in_memory: the shuffled index list is small; no cache file for it.
    return dataset.shuffle(seed=seed, keep_in_memory=True).select(range(num_samples))


def group_rows(groups: np.ndarray) -> list[np.ndarray]:
    """The row indices of each group (groups in the order of their ids, rows in dataset order)."""
    order = np.argsort(groups, kind="stable")
    _, starts = np.unique(groups[order], return_index=True)
    return np.split(order, starts[1:])


def draw_groups(sizes: list[int], num_samples: int, seed: int) -> list[int]:
    """Seeded whole groups, by index in the drawn order: every group that still fits in ``num_samples`` rows."""
    drawn, count = [], 0
    for index in np.random.default_rng(seed).permutation(len(sizes)).tolist():
        if count + sizes[index] <= num_samples:
            drawn.append(index)
            count += sizes[index]
        if count == num_samples:
            break
    if not drawn:
        raise BertpressError(f"{num_samples} samples cannot hold one whole group of {min(sizes)} examples")
    return drawn
