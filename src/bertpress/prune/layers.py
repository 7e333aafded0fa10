"""Which whole encoder layers to drop.

Three strategies, for a given count:

- ``top``: the last layers (the classic "keep the bottom of the stack" of Sajjad et al.);
- ``alternate``: every other layer from the top down (5, 3, 1 of six), then the even ones;
- ``fisher``: the layers whose removal the Fisher statistics price lowest. Dropping a layer
  removes all its heads and neurons at once, so its estimated loss increase is
  ½·Σ_batches (Σ_{units of the dropped layers} g)², the same second-order estimate that mask
  rearrangement uses, with the cross terms between units (which often cancel) kept. Layers are
  added greedily, each time the one that raises the joint estimate least.
"""

from __future__ import annotations

import torch

from ..errors import BertpressError
from .fisher import MaskGradients

STRATEGIES = ("top", "alternate", "fisher")


def layer_drop_order(gradients: MaskGradients) -> tuple[list[int], list[float]]:
    """Layers in the order the greedy search drops them, and the estimated loss after k drops (k = 0..L)."""
    per_layer = [(h.sum(1) + n.sum(1)).double() for h, n in zip(gradients.heads, gradients.neurons)]
    dropped_sum = torch.zeros_like(per_layer[0])
    remaining = list(range(len(per_layer)))
    order, losses = [], [0.0]
    while remaining:
        estimates = [0.5 * float((dropped_sum + per_layer[layer]).pow(2).sum()) for layer in remaining]
        best = min(range(len(remaining)), key=estimates.__getitem__)
        layer = remaining.pop(best)
        dropped_sum += per_layer[layer]
        order.append(layer)
        losses.append(estimates[best])
    return order, losses


def choose_layers(strategy: str, count: int, num_layers: int, gradients: MaskGradients | None = None) -> list[int]:
    """The ``count`` layers ``strategy`` drops, in ascending order."""
    if strategy == "top":
        order = list(range(num_layers - 1, -1, -1))
    elif strategy == "alternate":
        order = list(range(num_layers - 1, -1, -1))
        order = [i for i in order if i % 2 == 1] + [i for i in order if i % 2 == 0]
    elif strategy == "fisher":
        order = layer_drop_order(gradients)[0]
    else:
        raise BertpressError(f"unknown layer-dropping strategy '{strategy}' (choose from {', '.join(STRATEGIES)})")
    return sorted(order[:count])
