"""Budgets, and the one cost model that prices a candidate architecture against them.

A budget is what a user asks for: a fraction of the MACs, of the measured latency (or a latency
in milliseconds), or of the parameters. It is parsed once (``make_budget``) and resolved once
(``resolve_budget``) into a ``CostModel`` and a limit: the most the encoder layers may cost in
the model's unit. A candidate is priced by its heads and FFN neurons per kept layer; a layer that
is dropped costs nothing, one that is kept but emptied costs its blocks' empty forms (LayerNorms
and biases, which take time and parameters but no MACs). The search (``prune.search``) only
ever asks a cost model for ``attention(heads)`` and ``ffn(neurons)`` of one layer.

Every ratio is relative to the model a recipe started from, so budgets of later steps still
mean what the user wrote.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from ..errors import BertpressError
from ..models.adapters import Adapter
from .latency import LatencySetting
from .latency_table import LatencyTable, latency_table
from .macs import UnitCosts


@dataclass(frozen=True)
class MacsBudget:
    """Keep at most ``macs_ratio`` of the encoder's MACs (heads and neurons, at the mean calibration length)."""

    kind: ClassVar[str] = "macs"
    macs_ratio: float

    def __post_init__(self):
        _check_ratio("MACs", self.macs_ratio)


@dataclass(frozen=True)
class LatencyBudget:
    """Keep the measured latency at ``latency_ratio`` of the dense model's, or at ``latency_ms``."""

    kind: ClassVar[str] = "latency"
    latency_ratio: float | None = None
    latency_ms: float | None = None

    def __post_init__(self):
        if (self.latency_ratio is None) == (self.latency_ms is None):
            raise BertpressError("a latency budget is a ratio or a number of milliseconds, not both")
        if self.latency_ratio is not None:
            _check_ratio("latency", self.latency_ratio)
        elif not (math.isfinite(self.latency_ms) and self.latency_ms > 0):
            raise BertpressError(f"the latency in milliseconds must be positive, got {self.latency_ms}")


@dataclass(frozen=True)
class ParamsBudget:
    """Keep at most ``params_ratio`` of the whole model's parameters (embeddings and head included)."""

    kind: ClassVar[str] = "params"
    params_ratio: float

    def __post_init__(self):
        _check_ratio("parameters", self.params_ratio)


Budget = MacsBudget | LatencyBudget | ParamsBudget


def _check_ratio(name: str, ratio) -> None:
    if not isinstance(ratio, (int, float)) or isinstance(ratio, bool) or not 0 < ratio <= 1:
        raise BertpressError(f"the {name} ratio must be in (0, 1], got {ratio}")


def make_budget(
    *,
    macs: float | None = None,
    latency: float | None = None,
    latency_ms: float | None = None,
    params: float | None = None,
) -> Budget:
    """The one budget among the given values (exactly one must be given)."""
    given = {name: value for name, value in locals().items() if value is not None}
    if len(given) != 1:
        raise BertpressError("give exactly one budget: macs, latency, latency_ms or params")
    if macs is not None:
        return MacsBudget(macs)
    if params is not None:
        return ParamsBudget(params)
    return LatencyBudget(latency_ratio=latency, latency_ms=latency_ms)


class CostModel:
    """What one layer's blocks cost, by the number of heads or neurons they keep."""

    unit: ClassVar[str] = ""
    # True when every unit adds the same cost: the search then fills a budget by prefix sums.
    linear: ClassVar[bool] = True

    def attention(self, heads: int) -> float:
        raise NotImplementedError

    def ffn(self, neurons: int) -> float:
        raise NotImplementedError

    def cost(self, heads_per_layer: list[int], neurons_per_layer: list[int]) -> float:
        """The encoder's cost with these kept layers (a dropped layer is simply not listed)."""
        return sum(self.attention(h) + self.ffn(n) for h, n in zip(heads_per_layer, neurons_per_layer))


@dataclass(frozen=True)
class MacsCost(CostModel):
    unit: ClassVar[str] = "MACs"
    head: float
    neuron: float

    @classmethod
    def of(cls, adapter: Adapter, seq_length: float) -> MacsCost:
        units = UnitCosts.of(adapter, seq_length)
        return cls(head=units.head, neuron=units.neuron)

    def attention(self, heads: int) -> float:
        return heads * self.head

    def ffn(self, neurons: int) -> float:
        return neurons * self.neuron

    def cost(self, heads_per_layer: list[int], neurons_per_layer: list[int]) -> float:
        return self.head * sum(heads_per_layer) + self.neuron * sum(neurons_per_layer)


@dataclass(frozen=True)
class ParamsCost(CostModel):
    """Weights and biases of Q/K/V/O and the FFN, and the LayerNorms a kept block still has."""

    unit: ClassVar[str] = "parameters"
    head: float  # Q, K, V rows (and any other per-head projection's) with biases, the output projection's columns
    neuron: float  # an input row per stacked block (a gated FFN has two) with its bias, and an output column
    block: float  # output bias and LayerNorm of a block, whatever it keeps

    @classmethod
    def of(cls, adapter: Adapter) -> ParamsCost:
        """Read off the family's projections: BERT's head is 4·d·d_h + 3·d_h, its neuron 2·d + 1 and
        its block 3·d; ModernBERT has no biases, a gated FFN and LayerNorms without a bias."""
        d, d_h = adapter.hidden_size, adapter.head_size
        bias = int(adapter.attention_output(0).bias is not None)  # kept even by an emptied attention block
        norm = sum(p.numel() for p in adapter.ffn_norm(0).parameters())
        head_rows = sum(adapter.head_projections(0).values()) * d_h
        neuron_rows = sum(adapter.neuron_projections(0).values())
        return cls(head=head_rows * (d + bias) + d_h * d, neuron=neuron_rows * (d + bias) + d, block=bias * d + norm)

    def attention(self, heads: int) -> float:
        return self.block + heads * self.head

    def ffn(self, neurons: int) -> float:
        return self.block + neurons * self.neuron


@dataclass(frozen=True)
class LatencyCost(CostModel):
    """Milliseconds per block from the device's latency table (flat, then a slope)."""

    unit: ClassVar[str] = "ms"
    linear: ClassVar[bool] = False
    table: LatencyTable

    def attention(self, heads: int) -> float:
        return self.table.attention(heads)

    def ffn(self, neurons: int) -> float:
        return self.table.ffn(neurons)


@dataclass(frozen=True)
class ResolvedBudget:
    """A budget priced for one model: its cost model, and what the encoder layers may cost."""

    budget: Budget
    cost: CostModel
    limit: float
    target_ms: float | None = None  # latency budgets: the whole model's target
    reference_ms: float | None = None  # latency budgets: the starting model's latency, timed by this step

    def describe(self) -> dict:
        details = {"unit": self.cost.unit, "encoder_limit": round(self.limit, 3)}
        if self.target_ms is not None:
            details["target_ms"] = round(self.target_ms, 3)
            details["reference_ms"] = round(self.reference_ms, 3)
        return details


@dataclass(frozen=True)
class Reference:
    """The model a recipe started from, as budgets need it: its layers' sizes, parameters, latency."""

    heads_per_layer: list[int]
    neurons_per_layer: list[int]
    params: int
    latency_ms: float | None  # None: not timed (no latency budget needs it)
    seq_length: float  # mean calibration length: MACs are taken at it


def resolve_budget(
    budget: Budget, adapter: Adapter, reference: Reference, latency: LatencySetting, progress: bool = True
) -> ResolvedBudget:
    """Price ``budget`` with ``adapter``'s unit sizes against the recipe's starting model."""
    heads, neurons = reference.heads_per_layer, reference.neurons_per_layer
    if isinstance(budget, MacsBudget):
        cost = MacsCost.of(adapter, reference.seq_length)
        return ResolvedBudget(budget, cost, budget.macs_ratio * cost.cost(heads, neurons))
    if isinstance(budget, ParamsBudget):
        cost = ParamsCost.of(adapter)
        outside = reference.params - cost.cost(heads, neurons)  # embeddings, pooler, classifier
        limit = budget.params_ratio * reference.params - outside
        if limit < 0:
            floor = outside / reference.params
            raise BertpressError(
                f"a parameters ratio of {budget.params_ratio} is below what the embeddings and the head "
                f"alone keep ({floor:.3f})"
            )
        return ResolvedBudget(budget, cost, limit)
    table = latency_table(
        adapter, latency.batch_size, latency.seq_length, device=latency.device, threads=latency.threads, progress=progress
    )
    cost = LatencyCost(table)
    target_ms = budget.latency_ms if budget.latency_ms is not None else budget.latency_ratio * reference.latency_ms
    # What the table does not explain (embeddings, classifier, framework overhead) stays.
    other_ms = max(reference.latency_ms - cost.cost(heads, neurons), 0.0)
    if target_ms - other_ms <= 0:
        raise BertpressError(f"a latency of {target_ms:.1f} ms is below what the model's non-encoder parts take")
    return ResolvedBudget(budget, cost, target_ms - other_ms, target_ms, reference.latency_ms)

