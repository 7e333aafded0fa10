"""The search's decisions, as plain functions of what it has measured so far (no model needed):
what a structure would cost on a backend, which rung of the MACs ladder to prune next, which
rungs to distil and how long a distillation may train, which candidates the proxy screens out,
and which candidate wins. ``search`` is the driver that makes and measures what these ask for.

Prices come from measurements, never from one dense timing times a factor: a structure's price on
a backend is the measured latency, on that backend, of the structure of the nearest shape (itself
once it is measured; at first the dense model), scaled by the latency table's ratio of the two
shapes. Backends speed up large and small models by different factors (int8 gains less on a
heavily pruned model), so a factor taken from the dense model misprices small rungs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from .candidates import Structure
from .report import CandidateResult

# A rung priced up to this factor over the target is still tried: the margin allowed for a price
# scaled from another shape's timing through the latency table (the table prices fp32 PyTorch;
# other backends gain a little more or less on a smaller shape). The search's margin before prices
# were measured, kept until runs measure how far the scaled prices miss.
PRICE_SLACK = 1.15
# Points of agreement within which two candidates count as equally good: the proxy's noise on its
# 256 held-out examples (one example is 0.4 points).
PROXY_NOISE = 0.5
# How many of the largest rungs priced to meet the target are distilled: the largest keep the
# most, and each distillation takes minutes.
DISTILLED_RUNGS = 2
MAX_DISTILL_EPOCHS = 3  # the distill step's default: more gains little on GLUE-size tasks
MIN_DISTILL_STEPS = 64  # fewer training steps than this barely move a student: not worth the time
# Distillation's default learning rate (1e-4) was chosen on MiniLM (384 wide). From BERT-base's width
# up it wrecked students: MPNet's STS-B student at 0.08 of the MACs (-2.1 Spearman after an epoch;
# 81.6 at 3e-5) and its SST-2 student at 0.5 in a search (89.6 before the epoch, 81.5 after); base
# models are fine-tuned at 2e-5 to 5e-5.
BASE_WIDTH, BASE_DISTILL_LR = 768, 3e-5
# A training step's cost, in forward passes of the dense model at the training batch, until one is
# timed: the teacher's forward (1) plus the student's forward and backward with its loss terms
# (about 4 forwards of its size, so 4 x its MACs ratio), on batches padded past the mean length
# that the dense forward was priced at (about 1.5x the tokens).
TEACHER_FORWARDS, STUDENT_FORWARDS, PADDING = 1.0, 4.0, 1.5


@dataclass(frozen=True)
class Timed:
    """A model the search measured on one backend."""

    backend: str
    table_ms: float  # the latency table's price of its shape (fp32 PyTorch, target batch)
    latency_ms: float  # measured on ``backend`` at the target batch


@dataclass(frozen=True)
class Rung:
    """A MACs ratio of the ladder, as far as the search took it."""

    macs: float
    price_ms: float  # its best price over the backends (``best_price``)
    tried: bool = False  # pruned, and judged on the backends there was time for
    metric: float | None = None  # its dev metric as ``rung_metric`` reads it (None: none judged)


def price(table_ms: float, backend: str, timed: Iterable[Timed]) -> float | None:
    """The latency on ``backend`` of a structure whose table price is ``table_ms``: the measured
    model on ``backend`` of the nearest table price, scaled by the ratio of the table prices.
    None when nothing was measured on ``backend``."""
    measured = [t for t in timed if t.backend == backend]
    if not measured:
        return None
    nearest = min(measured, key=lambda t: abs(math.log(t.table_ms / table_ms)))
    return nearest.latency_ms * table_ms / nearest.table_ms


def best_price(table_ms: float, backends: Iterable[str], timed: Sequence[Timed]) -> float:
    """The lowest ``price`` over ``backends`` (infinite when none was measured)."""
    prices = [p for p in (price(table_ms, backend, timed) for backend in backends) if p is not None]
    return min(prices, default=math.inf)


def rung_metric(judged: Iterable[CandidateResult], target_ms: float) -> float | None:
    """What a rung scored, as the ladder reads it: the best dev metric of its candidates fast enough
    to count for the target (measured within PRICE_SLACK of it), or of all of them when none is.
    A rung that keeps the floor only on a backend too slow for the target has missed it where it
    matters (the MRPC 0.5 rung: 79.17 with ONNX Runtime int8 at twice the target, 78.68 with OpenVINO int8 near
    it), so the rungs above it come next."""
    scored = [c for c in judged if c.metric is not None]
    fast = [c.metric for c in scored if c.latency_ms is not None and c.latency_ms <= target_ms * PRICE_SLACK]
    return max(fast or [c.metric for c in scored], default=None)


def next_rung(rungs: Sequence[Rung], target_ms: float, floor_metric: float) -> float | None:
    """The MACs ratio to prune next, before any distillation; None when no rung is worth it yet.

    1. Above a miss: after a rung missed the floor, the untried rungs between it and the nearest
       rung above it that kept the floor (or the dense model), nearest first, whatever their
       price: pruning less keeps more accuracy, and every rung below the miss would only lose
       more. Not when that nearest rung met the target too: the rungs between would be less
       accurate than a model already found.
    2. Else the largest untried rung priced to meet the target (it keeps the most), above every
       rung that missed the floor and every rung that met both target and floor (those below a
       rung that met both can only be less accurate).
    Rungs left out here complete the front after distillation (``front_rungs``).
    """
    kept = [r for r in rungs if r.tried and r.metric is not None and r.metric >= floor_metric]
    missed = [r.macs for r in rungs if r.tried and r.metric is not None and r.metric < floor_metric]
    if missed:
        ceiling = max(missed)
        nearest_kept = min((r for r in kept if r.macs > ceiling), key=lambda r: r.macs, default=None)
        if nearest_kept is None or nearest_kept.price_ms > target_ms:
            limit = math.inf if nearest_kept is None else nearest_kept.macs
            above = [r.macs for r in rungs if not r.tried and ceiling < r.macs < limit]
            if above:
                return min(above)
    met_both = [r.macs for r in kept if r.price_ms <= target_ms]
    lowest = max([*missed, *met_both], default=0.0)
    fits = [r.macs for r in rungs if not r.tried and r.macs > lowest and r.price_ms <= target_ms * PRICE_SLACK]
    return max(fits, default=None)


def front_rungs(rungs: Sequence[Rung]) -> list[float]:
    """The untried rungs, largest first: once distillation had its turn, they complete the front."""
    return sorted((r.macs for r in rungs if not r.tried), reverse=True)


def rungs_to_distil(rungs: Sequence[Rung], target_ms: float) -> list[float]:
    """The largest tried rungs priced to meet the target: distillation recovers what pruning lost,
    and the larger a student, the more it keeps."""
    fits = sorted((r.macs for r in rungs if r.tried and r.price_ms <= target_ms * PRICE_SLACK), reverse=True)
    return fits[:DISTILLED_RUNGS]


def layers_to_drop(macs: float, num_layers: int) -> int:
    """The layers a layer-drop student of ``macs`` drops: it keeps ``macs`` of them, rounded up."""
    return num_layers - max(1, math.ceil(macs * num_layers - 1e-9))


def distill_lr(hidden_size: int) -> float | None:
    """The learning rate a student of this width distils at (None: the distill step's default)."""
    return BASE_DISTILL_LR if hidden_size >= BASE_WIDTH else None


def training_step_s(dense_forward_s: float, macs: float) -> float:
    """A guess at one distillation step's seconds before one is timed, from the dense model's
    forward at the training batch (see TEACHER_FORWARDS)."""
    return PADDING * dense_forward_s * (TEACHER_FORWARDS + STUDENT_FORWARDS * macs)


def fit_distillation(structure: Structure, seconds: float, step_s: float, examples: int, batch_size: int) -> Structure | None:
    """``structure`` with as many epochs (up to MAX_DISTILL_EPOCHS) and training examples as
    ``seconds`` allow at ``step_s`` a step of ``batch_size``; None when not even MIN_DISTILL_STEPS fit."""
    steps_per_epoch = math.ceil(examples / batch_size)
    for epochs in range(MAX_DISTILL_EPOCHS, 0, -1):
        if seconds >= epochs * steps_per_epoch * step_s:
            return replace(structure, distill_epochs=epochs)
    steps = int(seconds / step_s)
    return replace(structure, distill_epochs=1, max_train_samples=steps * batch_size) if steps >= MIN_DISTILL_STEPS else None


def screened_by(candidate: CandidateResult, others: Iterable[CandidateResult]) -> CandidateResult | None:
    """A judged candidate that measured no slower than ``candidate``'s price and agrees clearly
    better with the dense model: ``candidate`` would then not be on the front, so its dev
    evaluation and timing are spared."""
    for other in others:
        if other is candidate or other.metric is None or other.latency_ms is None:
            continue
        if other.latency_ms <= candidate.predicted_ms and other.agreement > candidate.agreement + PROXY_NOISE:
            return other
    return None


def choose(candidates: Sequence[CandidateResult], target_ms: float, floor_metric: float) -> int | None:
    """The index of the most accurate candidate (then the fastest) whose measured latency meets
    the target and whose dev metric meets the floor; None when none does."""
    feasible = [i for i, c in enumerate(candidates)
                if c.latency_ms is not None and c.latency_ms <= target_ms and c.metric >= floor_metric]
    return max(feasible, key=lambda i: (candidates[i].metric, -candidates[i].latency_ms), default=None)
