"""Which units to keep under a budget (Kwon et al. 2022, Algorithm 1 and its latency variant).

Heads and neurons are ranked globally by importance. For every possible number of heads, the
rest of the budget is filled with the best neurons; the choice with the most kept importance wins.
"""

from __future__ import annotations

import math

import torch

from ..measure.latency_table import LatencyTable
from ..measure.macs import UnitCosts
from .masks import Masks


def search_masks(
    head_importance: list[torch.Tensor],
    neuron_importance: list[torch.Tensor],
    costs: UnitCosts,
    budget_macs: float,
) -> Masks:
    """Binary masks keeping the most important units whose MACs fit ``budget_macs``."""
    _, head_order = _global_order(head_importance)
    _, neuron_order = _global_order(neuron_importance)
    head_gain = _gain_of_best(head_importance, head_order)
    neuron_gain = _gain_of_best(neuron_importance, neuron_order)

    best = (-math.inf, 0, 0)
    for num_heads in range(len(head_order) + 1):
        remaining = budget_macs - num_heads * costs.head
        if remaining < 0:
            break
        num_neurons = min(len(neuron_order), int(remaining // costs.neuron))
        gain = head_gain[num_heads] + neuron_gain[num_neurons]
        if gain > best[0]:
            best = (gain, num_heads, num_neurons)
    _, num_heads, num_neurons = best
    return Masks(
        heads=_split(_keep(head_order[:num_heads], len(head_order)), head_importance),
        neurons=_split(_keep(neuron_order[:num_neurons], len(neuron_order)), neuron_importance),
    )


def _gain_of_best(importance: list[torch.Tensor], order: torch.Tensor) -> list[float]:
    """Entry n: the summed importance of the n most important units (entry 0 is 0)."""
    return [0.0, *torch.cat(importance)[order].double().cumsum(0).tolist()]


def _keep(indices: torch.Tensor, size: int) -> torch.Tensor:
    mask = torch.zeros(size)
    mask[indices] = 1.0
    return mask


def _split(flat: torch.Tensor, like: list[torch.Tensor]) -> list[torch.Tensor]:
    return list(torch.split(flat, [len(t) for t in like]))


def search_masks_latency(
    head_importance: list[torch.Tensor],
    neuron_importance: list[torch.Tensor],
    table: LatencyTable,
    budget_ms: float,
) -> Masks:
    """Binary masks keeping the most important units whose predicted encoder latency fits.

    For every global head count, heads go to layers in importance order; the latency left for
    the FFN blocks is computed afresh for that candidate, then filled with neurons in importance
    order whenever a neuron's marginal latency still fits (below a block's threshold it is free,
    and a block with no neuron costs only its emptied form).
    """
    num_layers = len(head_importance)
    head_layer, head_order = _global_order(head_importance)
    neuron_layer, neuron_order = _global_order(neuron_importance)
    neuron_scores = torch.cat(neuron_importance)[neuron_order].tolist()
    head_gain = _gain_of_best(head_importance, head_order)
    neuron_layers = neuron_layer.tolist()
    empty_ffn_ms = num_layers * table.ffn(0)

    best = (-math.inf, 0, [])
    heads_per_layer = [0] * num_layers
    for num_heads in range(len(head_order) + 1):
        if num_heads:
            heads_per_layer[head_layer[num_heads - 1]] += 1
        remaining = budget_ms - empty_ffn_ms - sum(table.attention(h) for h in heads_per_layer)
        if remaining < 0:
            continue
        kept, gain = _fill_neurons(neuron_layers, neuron_scores, table, remaining, num_layers)
        gain += head_gain[num_heads]
        if gain > best[0]:
            best = (gain, num_heads, kept)
    _, num_heads, kept_neurons = best
    heads = _keep(head_order[:num_heads], len(head_order))
    neurons = _keep(neuron_order[torch.tensor(kept_neurons, dtype=torch.long)], len(neuron_order))
    return Masks(heads=_split(heads, head_importance), neurons=_split(neurons, neuron_importance))


def _global_order(importance: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Units sorted by importance (descending) and, for each, the layer it belongs to."""
    flat = torch.cat(importance)
    order = torch.argsort(flat, descending=True, stable=True)
    layers = torch.cat([torch.full((len(t),), i) for i, t in enumerate(importance)])
    return layers[order], order


def _fill_neurons(layers: list[int], scores: list[float], table: LatencyTable, remaining: float, num_layers: int):
    """Positions (in importance order) of the neurons kept within ``remaining`` ms, and their gain."""
    counts = [0] * num_layers
    kept, gain = [], 0.0
    for position, (layer, score) in enumerate(zip(layers, scores)):
        marginal = table.ffn(counts[layer] + 1) - table.ffn(counts[layer])
        if marginal <= remaining:
            remaining -= marginal
            counts[layer] += 1
            kept.append(position)
            gain += score
    return kept, gain
