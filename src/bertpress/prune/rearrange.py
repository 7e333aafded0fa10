"""Mask rearrangement (Kwon et al. 2022, section 4.2): fix each layer's choice of pruned units.

Pruning a set S of units raises the loss by about ½·Σ_batches (Σ_{i∈S} g_i)², with g_i a unit's
per-batch mask gradient; unlike the diagonal importance this sees how units interact. Per layer,
starting from the search's choice (the layer's least important units), greedily swap a pruned
and a kept unit while that lowers the estimate. Counts per layer stay, so the budget holds.
"""

from __future__ import annotations

import torch

from .masks import Masks


def rearrange(masks: Masks, head_grads: list[torch.Tensor], neuron_grads: list[torch.Tensor]) -> Masks:
    return Masks(
        heads=[_rearrange_layer(m, g) for m, g in zip(masks.heads, head_grads)],
        neurons=[_rearrange_layer(m, g) for m, g in zip(masks.neurons, neuron_grads)],
    )


def _rearrange_layer(mask: torch.Tensor, grads: torch.Tensor, max_swaps: int | None = None) -> torch.Tensor:
    pruned = mask == 0
    if pruned.all() or not pruned.any():
        return mask.clone()
    g = grads.double()  # [batches, units]
    gram = g.T @ g
    diag = gram.diagonal()
    pruned_sum = g[:, pruned].sum(1)
    for _ in range(max_swaps or mask.numel()):
        # Swapping i (pruned -> kept) with j (kept -> pruned) changes ||Σ_S g||² by
        # ||g_j - g_i||² + 2·v·(g_j - g_i), with v the current Σ_S g.
        along = g.T @ pruned_sum
        out_idx = pruned.nonzero().flatten()
        in_idx = (~pruned).nonzero().flatten()
        change = (
            diag[out_idx, None]
            + diag[None, in_idx]
            - 2 * gram[out_idx][:, in_idx]
            + 2 * (along[None, in_idx] - along[out_idx, None])
        )
        best = int(torch.argmin(change))
        if float(change.flatten()[best]) >= -1e-9 * float(pruned_sum @ pruned_sum):
            break  # no swap lowers the estimate by more than rounding noise
        i, j = out_idx[best // len(in_idx)], in_idx[best % len(in_idx)]
        pruned[i], pruned[j] = False, True
        pruned_sum += g[:, j] - g[:, i]
    return (~pruned).float()
