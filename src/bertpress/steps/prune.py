"""The ``prune`` step: remove attention heads and FFN neurons (and, if allowed, whole layers)
under one budget, without retraining (Kwon et al. 2022; see ``prune.pipeline``)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar, Literal

from ..distributed import on_main
from ..errors import BertpressError
from ..measure.cost import Budget, LatencyBudget, make_budget, resolve_budget
from ..measure.latency import LatencySetting
from ..models.adapters import get_adapter
from ..models.shrink import source_layers
from ..prune.pipeline import prune_in_place, timed
from ..prune import DEFAULT_LAYER_FLOOR
from .base import StepConfig, register_step
from .state import State


@dataclass(frozen=True)
class PruneStep(StepConfig):
    """Exactly one budget: ``macs`` (alias ``flops``), ``latency``, ``latency_ms`` or ``params``.

    A latency budget is priced by timing PyTorch fp32 blocks on ``device`` at ``batch_size`` x
    ``seq_length``: the run fills these in (``pin``), so the saved recipe redoes exactly that.
    """

    name: ClassVar[str] = "prune"
    aliases: ClassVar[dict[str, str]] = {"flops": "macs"}

    macs: float | None = None
    latency: float | None = None
    latency_ms: float | None = None
    params: float | None = None
    rearrange: bool = True
    tune: bool = True
    reconstruct: Literal["scales", "weights"] = "weights"
    damping: float = 1e-2
    allow_layer_drop: bool = False  # the search may drop whole layers beside heads and neurons
    # Every kept layer keeps at least this share of the share of units kept overall (0: Kwon's search).
    layer_floor: float = DEFAULT_LAYER_FLOOR
    # Every kept FFN's width a multiple of this (8: fp16 tensor cores on a GPU; 1: any width).
    neuron_multiple: int = 1
    batch_size: int | None = None  # latency budgets: where the latency is measured
    seq_length: int | None = None
    device: str | None = None

    def __post_init__(self):
        _ = self.budget  # building the budget validates its fields
        if self.reconstruct not in ("scales", "weights"):
            raise BertpressError(f"reconstruct must be 'scales' or 'weights', got '{self.reconstruct}'")
        if not self.damping > 0:
            raise BertpressError(f"damping must be positive, got {self.damping}")
        if not 0 <= self.layer_floor <= 1:
            raise BertpressError(f"layer_floor must be between 0 and 1, got {self.layer_floor}")
        if not (isinstance(self.neuron_multiple, int) and self.neuron_multiple >= 1):
            raise BertpressError(f"neuron_multiple must be a whole number of at least 1, got {self.neuron_multiple}")
        pinned = (self.batch_size, self.seq_length, self.device)
        if any(value is not None for value in pinned) and not isinstance(self.budget, LatencyBudget):
            raise BertpressError("batch_size, seq_length and device belong to a latency budget (latency or latency_ms)")

    def check_inputs(self, model, tokenizer, task, task_head) -> None:
        if self.tune:  # refused now, not after minutes of statistics and search
            get_adapter(model).check_tunable()

    @property
    def times_dense(self) -> bool:
        return isinstance(self.budget, LatencyBudget)

    def pin(self, latency: LatencySetting) -> PruneStep:
        """This step with a latency budget's measurement setting filled in from ``latency`` where not given."""
        if not isinstance(self.budget, LatencyBudget):
            return self
        return replace(
            self, batch_size=self.batch_size or latency.batch_size, seq_length=self.seq_length or latency.seq_length,
            device=self.device or latency.device,
        )

    def latency_setting(self, latency: LatencySetting) -> LatencySetting:
        """``latency`` with what this step pins (its batch size, sequence length and device)."""
        pinned = {"batch_size": self.batch_size, "seq_length": self.seq_length, "device": self.device}
        return replace(latency, **{key: value for key, value in pinned.items() if value is not None})

    @property
    def budget(self) -> Budget:
        return make_budget(macs=self.macs, latency=self.latency, latency_ms=self.latency_ms, params=self.params)


def run_prune(state: State, config: PruneStep) -> dict:
    budget = config.budget
    with timed(state.timings_s, "latency_table" if isinstance(budget, LatencyBudget) else "budget"):
        # Measured once (latency tables): every process must prune to the same shapes.
        resolved = on_main(lambda: resolve_budget(budget, state.adapter, state.reference, config.latency_setting(state.latency), state.progress))
    source = source_layers(state.adapter)
    outcome = prune_in_place(
        state.adapter,
        state.calibration,
        state.gradients(),
        state.selection(resolved, config.allow_layer_drop, config.layer_floor, config.neuron_multiple),
        state.task_head,
        rearrange=config.rearrange,
        tune=config.tune,
        mode=config.reconstruct,
        damping=config.damping,
        progress=state.progress,
    )
    for phase, seconds in outcome.timings_s.items():
        state.timings_s[phase] = round(state.timings_s.get(phase, 0.0) + seconds, 3)
    state.model_changed()
    return {
        "budget": budget,
        **resolved.describe(),
        "dropped_layers": [source[i] for i in outcome.dropped_layers],
        "heads_per_layer": state.adapter.heads_per_layer(),
        "neurons_per_layer": state.adapter.neurons_per_layer(),
    }


register_step(PruneStep, run_prune)
