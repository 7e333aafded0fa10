"""One retraining-free structured prune: search → drop layers → rearrange → reconstruct → shrink.

Each phase is a plain function of tensors and small dataclasses (see the sibling modules), so it
can be tested alone, swapped or skipped; this module only chains and times them. The Fisher
statistics and the search's selection come from the caller: a recipe computes them once per model
(and budget) and shares them, so a price taken before pruning and the prune use the same masks.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from ..measure.cost import ResolvedBudget
from ..memory import release_free_memory
from ..models.adapters import Adapter
from ..models.task_heads import TaskHead
from ..models.shrink import drop_layers, shrink
from .fisher import MaskGradients
from .masks import Masks
from .rearrange import rearrange as rearrange_masks
from .reconstruct import Mode, reconstruct
from .search import BudgetTooSmall, LayerFloor, Selection, align_neurons, search_masks, search_with_layer_drops


@dataclass
class PruneOutcome:
    masks: Masks  # over the kept layers: tuned scales, or binary when weights were refitted
    dropped_layers: list[int]  # indices before the prune
    timings_s: dict[str, float] = field(default_factory=dict)


@contextmanager
def timed(timings: dict[str, float], phase: str) -> Iterator[None]:
    """Adds the block's seconds to ``timings[phase]``; at its end, what it freed goes back to the system."""
    start = time.perf_counter()
    yield
    release_free_memory()
    timings[phase] = round(timings.get(phase, 0.0) + time.perf_counter() - start, 3)


def prune_in_place(
    adapter: Adapter,
    batches: list[dict],
    gradients: MaskGradients,
    selection: Selection,
    task_head: TaskHead,
    *,
    rearrange: bool = True,
    tune: bool = True,
    mode: Mode = "weights",
    damping: float = 1e-2,
    progress: bool = True,
) -> PruneOutcome:
    """Prune ``adapter.model`` in place to ``selection`` (``select_units``): afterwards its
    Linears are physically smaller.

    ``gradients`` are the per-batch mask gradients of this very model on ``batches``.
    """
    timings: dict[str, float] = {}
    kept = [i for i in range(adapter.num_layers) if i not in selection.dropped_layers]
    masks = Masks([selection.masks.heads[i] for i in kept], [selection.masks.neurons[i] for i in kept])
    head_grads, neuron_grads = [gradients.heads[i] for i in kept], [gradients.neurons[i] for i in kept]
    with timed(timings, "shrink"):
        if selection.dropped_layers:
            drop_layers(adapter, selection.dropped_layers)
    with timed(timings, "rearrange"):
        if rearrange:
            masks = rearrange_masks(masks, head_grads, neuron_grads)
    with timed(timings, "tune"):
        if tune:
            masks = reconstruct(
                adapter,
                masks,
                batches,
                mode=mode,
                damping=damping,
                last_layer_first_token_only=task_head.reads_first_token_only,
                progress=progress,
            )
    with timed(timings, "shrink"):
        shrink(adapter, masks.heads, masks.neurons)
    return PruneOutcome(masks, selection.dropped_layers, timings)


def select_units(
    gradients: MaskGradients, budget: ResolvedBudget, allow_layer_drop: bool, layer_floor: float, neuron_multiple: int = 1
) -> Selection:
    """The heads and neurons (and, if allowed, whole layers) to keep under ``budget``; every kept
    layer keeps at least ``layer_floor`` times the share of its units that the budget keeps overall
    (a floor the budget cannot afford beside the layers' empty forms is left out), and an FFN width
    that is a multiple of ``neuron_multiple``."""
    heads, neurons = gradients.head_importance(), gradients.neuron_importance()
    whole = budget.cost.cost([len(h) for h in heads], [len(n) for n in neurons])
    floor = LayerFloor.share(layer_floor * min(1.0, budget.limit / whole), heads, neurons)
    try:
        selection = _search(gradients, budget, allow_layer_drop, floor)
    except BudgetTooSmall:
        if not any(floor.heads + floor.neurons):
            raise
        selection = _search(gradients, budget, allow_layer_drop, LayerFloor.none(len(heads)))
    return align_neurons(selection, neurons, neuron_multiple, budget.cost, budget.limit)


def _search(gradients: MaskGradients, budget: ResolvedBudget, allow_layer_drop: bool, floor: LayerFloor) -> Selection:
    if allow_layer_drop:
        return search_with_layer_drops(gradients, budget.cost, budget.limit, floor)
    masks = search_masks(gradients.head_importance(), gradients.neuron_importance(), budget.cost, budget.limit, floor)
    return Selection(masks, [], 0.0)
