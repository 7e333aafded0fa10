"""Recipes that prune in stages (CoFi, ZipLM, K-prune): each stage recomputes the Fisher statistics
on the model it is about to prune, so the search always judges the model it actually cuts.

With a ``distill`` step, every stage is followed by distillation (shorter between stages, full
at the end); without one, the same schedule is a retraining-free iterative prune (statistics and
reconstruction redone on the already pruned model).
"""

from __future__ import annotations

from dataclasses import replace

from ..errors import BertpressError
from .distill import DistillStep
from .prune import PruneStep
from .recipe import Recipe

STAGES = (0.7, 0.5, 0.35, 0.25, 0.15, 0.1)  # about 0.7x per stage, as in the example


def stages_to(target: float) -> list[float]:
    """The ratios a gradual prune passes through to ``target``, ending with it."""
    return [ratio for ratio in STAGES if ratio > target + 1e-9] + [target]


def gradual_recipe(prune: PruneStep, distill: DistillStep | None = None, stage_epochs: int = 1) -> Recipe:
    """``prune``'s budget reached in stages; ``distill`` after each (``stage_epochs`` between stages)."""
    field = _ratio_field(prune)
    steps = []
    ratios = stages_to(getattr(prune, field))
    for ratio in ratios:
        steps.append(replace(prune, **{field: ratio}))
        if distill is not None:
            steps.append(distill if ratio == ratios[-1] else replace(distill, epochs=stage_epochs))
    return Recipe(tuple(steps))


def _ratio_field(prune: PruneStep) -> str:
    for field in ("macs", "latency", "params"):
        if getattr(prune, field) is not None:
            return field
    raise BertpressError("a gradual prune takes a ratio budget (macs, latency or params), not latency_ms")
