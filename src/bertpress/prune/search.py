"""Which units to keep under a budget (Kwon et al. 2022, Algorithm 1, for any cost model).

Heads and neurons are ranked globally by importance. For every possible number of heads (taken
in that order), what remains of the budget is filled with the best neurons; the candidate that
keeps the most importance wins. When a block's cost is not linear in its units (latency: flat,
then a slope) the remaining budget is recomputed for each candidate and neurons are added while
their marginal cost still fits.

A floor (``LayerFloor``) makes every kept layer keep at least a number of its most important heads
and neurons: the second-order estimate is taken at the dense model and prices each unit alone, so
it can empty the top layers of a classifier one cheap unit at a time (all-mpnet-base-v2's MRPC and
SST-2 teachers at 0.35 of the MACs kept 0-2 heads in their last four layers and fell to one class).
The floor's units come first in the global order; the search then runs as before.

With layer dropping allowed, the same search runs once for every number of dropped layers (the
layers cheapest to drop first, see ``prune.layers``), and the candidate with the smallest
estimated loss wins: ½·Σ pruned importance in the kept layers plus the estimated cost of
dropping the others. A dropped layer frees its blocks' empty forms too (LayerNorms, biases).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

from ..errors import BertpressError
from ..measure.cost import CostModel
from .fisher import MaskGradients
from .layers import layer_drop_order
from .masks import Masks


class BudgetTooSmall(BertpressError):
    """Not even the emptiest candidate fits the budget."""


@dataclass(frozen=True)
class LayerFloor:
    """The fewest heads and neurons each layer keeps (its most important ones)."""

    heads: list[int]
    neurons: list[int]

    @classmethod
    def none(cls, num_layers: int) -> LayerFloor:
        return cls([0] * num_layers, [0] * num_layers)

    @classmethod
    def share(cls, share: float, head_importance: list[torch.Tensor], neuron_importance: list[torch.Tensor]) -> LayerFloor:
        """``share`` of every layer's heads and of its neurons, rounded down but at least one of
        each where the share is positive: rounded down to none, 0.0625 of 12 heads let the search
        empty the attention of MPNet's last three layers, and its SST-2 teacher fell to chance."""

        def fewest(units: torch.Tensor) -> int:
            return max(1, int(share * len(units))) if share > 0 and len(units) else 0

        return cls([fewest(t) for t in head_importance], [fewest(t) for t in neuron_importance])

    def of_layers(self, layers: list[int]) -> LayerFloor:
        return LayerFloor([self.heads[i] for i in layers], [self.neurons[i] for i in layers])


@dataclass
class Selection:
    """The search's choice over the current layers; a dropped layer's masks are all zero."""

    masks: Masks
    dropped_layers: list[int]
    estimated_loss: float


def search_masks(
    head_importance: list[torch.Tensor],
    neuron_importance: list[torch.Tensor],
    cost: CostModel,
    limit: float,
    floor: LayerFloor | None = None,
) -> Masks:
    """Binary masks keeping the most important units whose cost fits ``limit`` (and ``floor``)."""
    num_layers = len(head_importance)
    floor = floor or LayerFloor.none(num_layers)
    head_layer, head_order = _global_order(head_importance, floor.heads)
    neuron_layer, neuron_order = _global_order(neuron_importance, floor.neurons)
    fewest_heads, fewest_neurons = sum(floor.heads), sum(floor.neurons)
    head_gain = _prefix_sums(torch.cat(head_importance)[head_order])
    neuron_scores = torch.cat(neuron_importance)[neuron_order]
    neuron_gain = _prefix_sums(neuron_scores)
    empty_ffn = num_layers * cost.ffn(0)
    heads_per_layer = [0] * num_layers
    attention = attention_floor = num_layers * cost.attention(0)

    best = (-math.inf, 0, torch.empty(0, dtype=torch.long))
    for num_heads in range(len(head_order) + 1):
        if num_heads:
            layer = int(head_layer[num_heads - 1])
            attention += cost.attention(heads_per_layer[layer] + 1) - cost.attention(heads_per_layer[layer])
            heads_per_layer[layer] += 1
        if cost.linear:  # closed form: no rounding drift from the running sum
            attention = num_layers * cost.attention(0) + num_heads * (cost.attention(1) - cost.attention(0))
        remaining = limit - attention - empty_ffn
        if remaining < 0 or num_heads < fewest_heads:
            continue
        if cost.linear:
            kept = torch.arange(_affordable(cost, remaining, len(neuron_order)))
            gain = head_gain[num_heads] + neuron_gain[len(kept)]
        else:
            kept, neurons_gain = _fill_neurons(neuron_layer.tolist(), neuron_scores.tolist(), cost, remaining, num_layers)
            gain = head_gain[num_heads] + neurons_gain
        if not _keeps_first(kept, fewest_neurons):
            continue  # the floor's neurons do not fit beside these heads
        if gain > best[0]:
            best = (gain, num_heads, kept)
    if best[0] == -math.inf:
        but_floor = f" but the floor's {fewest_heads} heads and {fewest_neurons} neurons" if fewest_heads or fewest_neurons else ""
        raise BudgetTooSmall(
            f"the budget cannot be met: with every head and neuron pruned{but_floor} the encoder costs more "
            f"than its limit of {limit:.4g} {cost.unit} (emptied, it costs {attention_floor + empty_ffn:.4g})"
        )
    _, num_heads, kept = best
    return Masks(
        heads=_split(_keep(head_order[:num_heads], len(head_order)), head_importance),
        neurons=_split(_keep(neuron_order[kept], len(neuron_order)), neuron_importance),
    )


def search_with_layer_drops(
    gradients: MaskGradients, cost: CostModel, limit: float, floor: LayerFloor | None = None
) -> Selection:
    """``search_masks`` for 0, 1, ... L-1 dropped layers (``floor`` holds in the kept ones); the
    candidate with the least estimated loss."""
    heads, neurons = gradients.head_importance(), gradients.neuron_importance()
    floor = floor or LayerFloor.none(len(heads))
    order, drop_losses = layer_drop_order(gradients)
    best, too_small = None, None
    for count in range(len(heads)):  # keep at least one layer
        dropped = sorted(order[:count])
        kept = [layer for layer in range(len(heads)) if layer not in dropped]
        try:
            masks = search_masks([heads[i] for i in kept], [neurons[i] for i in kept], cost, limit, floor.of_layers(kept))
        except BudgetTooSmall as error:
            too_small = error  # dropping more layers may still fit
            continue
        pruned = sum(
            float(importance[mask == 0].sum())
            for importance, mask in zip([heads[i] for i in kept] + [neurons[i] for i in kept], masks.heads + masks.neurons)
        )
        loss = drop_losses[count] + 0.5 * pruned
        if best is None or loss < best.estimated_loss:
            best = Selection(_with_dropped(masks, kept, heads, neurons), dropped, loss)
    if best is None:
        raise too_small
    return best


def _with_dropped(masks: Masks, kept: list[int], heads: list[torch.Tensor], neurons: list[torch.Tensor]) -> Masks:
    """Masks over every layer: the kept layers' from ``masks``, zeros for the dropped ones."""
    head_masks, neuron_masks = iter(masks.heads), iter(masks.neurons)
    return Masks(
        heads=[next(head_masks) if i in kept else torch.zeros_like(h) for i, h in enumerate(heads)],
        neurons=[next(neuron_masks) if i in kept else torch.zeros_like(n) for i, n in enumerate(neurons)],
    )


def _affordable(cost: CostModel, remaining: float, available: int) -> int:
    """How many neurons a linear cost model fits into ``remaining``."""
    marginal = cost.ffn(1) - cost.ffn(0)
    return available if marginal <= 0 else min(available, int(remaining // marginal))


def _prefix_sums(scores: torch.Tensor) -> list[float]:
    """Entry n: the summed importance of the first n units (entry 0 is 0)."""
    return [0.0, *scores.double().cumsum(0).tolist()]


def _keep(indices: torch.Tensor, size: int) -> torch.Tensor:
    mask = torch.zeros(size)
    mask[indices] = 1.0
    return mask


def _split(flat: torch.Tensor, like: list[torch.Tensor]) -> list[torch.Tensor]:
    return list(torch.split(flat, [len(t) for t in like]))


def _keeps_first(kept: torch.Tensor, count: int) -> bool:
    """Whether ``kept`` (positions in the global order, ascending) holds all of the first ``count``."""
    return count == 0 or (len(kept) >= count and int(kept[count - 1]) == count - 1)


def _global_order(importance: list[torch.Tensor], floor: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Units sorted by importance (descending), each layer's ``floor`` most important ones first,
    and, for each, the layer it belongs to."""
    required = torch.cat([_keep(torch.argsort(t, descending=True, stable=True)[:k], len(t)) for t, k in zip(importance, floor)])
    flat = torch.cat(importance)
    by_importance = torch.argsort(flat, descending=True, stable=True)
    first = required[by_importance].bool()
    order = torch.cat([by_importance[first], by_importance[~first]])
    layers = torch.cat([torch.full((len(t),), i) for i, t in enumerate(importance)])
    return layers[order], order


def _fill_neurons(layers: list[int], scores: list[float], cost: CostModel, remaining: float, num_layers: int):
    """Positions (in importance order) of the neurons kept within ``remaining``, and their gain."""
    counts = [0] * num_layers
    kept, gain = [], 0.0
    for position, (layer, score) in enumerate(zip(layers, scores)):
        marginal = cost.ffn(counts[layer] + 1) - cost.ffn(counts[layer])
        if marginal <= remaining:
            remaining -= marginal
            counts[layer] += 1
            kept.append(position)
            gain += score
    return torch.tensor(kept, dtype=torch.long), gain


def align_neurons(selection: Selection, neuron_importance: list[torch.Tensor], multiple: int, cost: CostModel,
                  limit: float) -> Selection:
    """``selection`` with each kept layer's FFN width a multiple of ``multiple`` neurons.

    A GPU's matrix units work on tiles (fp16 tensor cores on multiples of 8): on an H200 an MPNet
    pruned to 0.5 of the MACs, FFNs 2,423 wide and the like, ran slower in fp16 than the dense model,
    and 1.1x to 1.3x faster once its widths were multiples of 8 (RESULTS.md, "Base size on a GPU"). A width
    is rounded down (losing fewer than ``multiple`` of its least important neurons), except that a
    layer keeping a few keeps ``multiple`` (or all it has). Where those raise the cost above
    ``limit``, the layers whose last ``multiple`` neurons matter least give them back.
    """
    if multiple == 1:
        return selection
    masks = selection.masks
    kept = [i for i in range(len(masks.neurons)) if i not in selection.dropped_layers]
    orders = [_kept_first(mask, importance) for mask, importance in zip(masks.neurons, neuron_importance)]
    widths = [_aligned(int(mask.sum()), multiple, len(mask)) for mask in masks.neurons]
    heads = [int(masks.heads[i].sum()) for i in kept]
    while cost.cost(heads, [widths[i] for i in kept]) > limit:
        wide = [i for i in kept if widths[i] >= 2 * multiple]
        if not wide:
            break  # only the layers' smallest aligned widths are left: the search's own overrun, if any
        cheapest = min(wide, key=lambda i: float(neuron_importance[i][orders[i][widths[i] - multiple:widths[i]]].sum()))
        widths[cheapest] -= multiple
    neurons = [_keep(order[:width], len(order)) for order, width in zip(orders, widths)]
    return replace(selection, masks=Masks(masks.heads, neurons))


def _aligned(width: int, multiple: int, size: int) -> int:
    """``width`` rounded down to a multiple, but a kept layer keeps ``multiple`` (or all its ``size``)."""
    if width in (0, size):
        return width
    return max(width // multiple * multiple, min(multiple, size))


def _kept_first(mask: torch.Tensor, importance: torch.Tensor) -> torch.Tensor:
    """A layer's units, the kept ones first, each group by importance (descending)."""
    by_importance = torch.argsort(importance, descending=True, stable=True)
    kept = mask[by_importance].bool()
    return torch.cat([by_importance[kept], by_importance[~kept]])
