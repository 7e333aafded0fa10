"""Analytic multiply-accumulate counts per sequence, with per-layer head counts and FFN widths.

One head costs 4·s·d·d_h (Q, K, V and its share of the output projection) plus 2·s²·d_h
(attention scores and context), plus what its family spends on relative positions (DeBERTa's
disentangled terms, ``Adapter.relative_position_macs``); one FFN neuron costs 2·s·d, or 3·s·d in a
gated FFN (its input and gate rows, its output column). Embedding lookups cost nothing; LayerNorms,
activations and rotary positions are not counted (as in the pruning literature). Local
(sliding-window) attention is counted over the whole sequence, as the eager and SDPA kernels
compute it (they mask the scores outside the window).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..models.adapters import Adapter


@dataclass(frozen=True)
class UnitCosts:
    """MACs of one head and of one FFN neuron at sequence length ``seq_length``."""

    head: float
    neuron: float
    seq_length: float

    @classmethod
    def of(cls, adapter: Adapter, seq_length: float) -> UnitCosts:
        d, d_h, s = adapter.hidden_size, adapter.head_size, seq_length
        head = 4 * s * d * d_h + 2 * s * s * d_h + adapter.relative_position_macs(s)
        # A neuron's row in each stacked block of the FFN input projection, and its output column.
        neuron_linears = sum(adapter.neuron_projections(0).values()) + 1
        return cls(head=head, neuron=neuron_linears * s * d, seq_length=seq_length)


def encoder_macs(adapter: Adapter, seq_length: float) -> float:
    """MACs of all layers' heads and neurons (what a pruning budget is a fraction of)."""
    costs = UnitCosts.of(adapter, seq_length)
    return costs.head * sum(adapter.heads_per_layer()) + costs.neuron * sum(adapter.neurons_per_layer())


def model_macs(adapter: Adapter, seq_length: int) -> int:
    """MACs of one sequence through the whole model: encoder, embedding projections, head."""
    token_linears = sum(m.in_features * m.out_features for m in adapter.per_token_linears())
    sequence_linears = sum(m.in_features * m.out_features for m in adapter.per_sequence_linears())
    return round(encoder_macs(adapter, seq_length) + seq_length * token_linears + sequence_linears)


def count_params(model) -> int:
    return sum(p.numel() for p in model.parameters())
