"""One retraining-free structured prune: statistics → search → rearrange → tune → shrink.

Each step is a plain function of tensors and small dataclasses (see the sibling modules), so a
step can be tested alone, swapped or skipped; this module only chains them and times them.
"""

from __future__ import annotations

import time
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from typing import Literal

import torch

from ..errors import BertpressError
from ..measure.latency_table import LatencyTable
from ..measure.macs import UnitCosts, encoder_macs
from ..models.adapters import Adapter
from ..models.shrink import shrink
from .fisher import collect_mask_gradients
from .masks import Masks
from .rearrange import rearrange
from .reconstruct import reconstruct, record_teacher
from .search import search_masks, search_masks_latency


@dataclass(frozen=True)
class PruneConfig:
    """How to prune: keep at most ``macs`` of the encoder's MACs, or ``latency`` of the dense
    model's measured latency (exactly one of the two)."""

    macs: float | None = None
    latency: float | None = None
    num_samples: int = 2048
    batch_size: int = 32
    seed: int = 0
    rearrange: bool = True
    tune: bool = True
    reconstruct: Literal["scales", "weights"] = "weights"
    damping: float = 1e-2

    def __post_init__(self):
        if (self.macs is None) == (self.latency is None):
            raise BertpressError("give exactly one budget: a MACs ratio or a latency ratio")
        for name, ratio in (("MACs", self.macs), ("latency", self.latency)):
            if ratio is not None and not 0 < ratio <= 1:
                raise BertpressError(f"the {name} ratio must be in (0, 1], got {ratio}")
        if self.num_samples < self.batch_size:
            raise BertpressError(
                f"--num-samples ({self.num_samples}) must be at least one batch ({self.batch_size})"
            )
        if self.reconstruct not in ("scales", "weights"):
            raise BertpressError(f"--reconstruct must be 'scales' or 'weights', got '{self.reconstruct}'")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class LatencyBudget:
    """A latency budget turned into what the search needs: per-block predictions and the
    milliseconds the encoder layers may take (the target minus the model's other parts)."""

    table: LatencyTable
    encoder_ms: float


@dataclass
class PruneOutcome:
    masks: Masks  # the final masks (tuned scales, or binary when weights were refitted)
    seq_length: float  # mean calibration length, at which MACs were budgeted
    timings_s: dict[str, float] = field(default_factory=dict)


@contextmanager
def _timed(timings: dict[str, float], phase: str):
    start = time.perf_counter()
    yield
    timings[phase] = round(time.perf_counter() - start, 3)


def prune_in_place(
    adapter: Adapter,
    batches: list[dict],
    config: PruneConfig,
    progress: bool = True,
    latency_budget: LatencyBudget | None = None,
) -> PruneOutcome:
    """Prune ``adapter.model`` in place: afterwards its Linears are physically smaller.

    A latency ``config`` needs ``latency_budget`` (see ``api.prune``, which measures it).
    """
    timings: dict[str, float] = {}
    seq_length = mean_length(batches)
    # Tuning fits against the unpruned model's activations: the Fisher pass (all-ones masks) records them.
    recorder = record_teacher(adapter) if config.tune else nullcontext()
    with _timed(timings, "fisher"), recorder as teacher:
        grads = collect_mask_gradients(adapter, batches, progress)

    with _timed(timings, "search"):
        heads, neurons = grads.head_importance(), grads.neuron_importance()
        if config.macs is not None:
            budget = config.macs * encoder_macs(adapter, seq_length)
            masks = search_masks(heads, neurons, UnitCosts.of(adapter, seq_length), budget)
        else:
            masks = search_masks_latency(heads, neurons, latency_budget.table, latency_budget.encoder_ms)
    with _timed(timings, "rearrange"):
        if config.rearrange:
            masks = rearrange(masks, grads.heads, grads.neurons)
    with _timed(timings, "tune"):
        if config.tune:
            masks = reconstruct(adapter, masks, batches, teacher, config.reconstruct, config.damping, progress)
    with _timed(timings, "shrink"):
        shrink(adapter, masks.heads, masks.neurons)
    return PruneOutcome(masks=masks, seq_length=seq_length, timings_s=timings)


def mean_length(batches: list[dict]) -> float:
    """Mean tokenized length of the calibration examples: the s of the MACs formulas."""
    lengths = torch.cat([batch["attention_mask"].sum(1) for batch in batches])
    return float(lengths.float().mean())
