"""The search space: how a candidate's PyTorch model is made (its ``Structure``), and how it runs
(its backend). Both are recipe steps, so every candidate is a recipe that ``compress`` can redo."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..steps import DistillStep, DropLayersStep, PruneStep, Recipe, StepConfig
from ..steps.backends import backend_steps

# The MACs ratios tried without retraining, as in the gradual schedule: about 0.7x apart.
LADDER = (0.7, 0.5, 0.35, 0.25, 0.15, 0.1)


@dataclass(frozen=True)
class Structure:
    """A PyTorch model made from the dense one: ``dropped_layers`` removed (alternate ones, a
    DistilBERT-style student), pruned to ``macs`` of the MACs, then distilled for
    ``distill_epochs`` (0: retraining-free) on ``max_train_samples`` examples (None: all) at
    ``distill_lr`` (None: the distill step's default), stopping after ``distill_steps`` optimizer
    steps where the search's deadline ended it (None: all planned)."""

    macs: float = 1.0
    dropped_layers: int = 0
    distill_epochs: int = 0
    max_train_samples: int | None = None
    distill_lr: float | None = None
    distill_steps: int | None = None

    def steps(self, num_layers: int) -> list[StepConfig]:
        steps: list[StepConfig] = []
        if self.dropped_layers:
            steps.append(DropLayersStep(count=self.dropped_layers, strategy="alternate"))
        if self.macs < (num_layers - self.dropped_layers) / num_layers - 1e-9:
            steps.append(PruneStep(macs=self.macs))
        if self.distill_epochs:
            rate = {} if self.distill_lr is None else {"lr": self.distill_lr}
            steps.append(DistillStep(
                epochs=self.distill_epochs, max_train_samples=self.max_train_samples, max_steps=self.distill_steps, **rate
            ))
        return steps

    def label(self) -> str:
        parts = []
        if self.dropped_layers:
            parts.append(f"drop {self.dropped_layers} layers")
        parts.append("dense" if self.macs == 1.0 and not self.dropped_layers else f"MACs {self.macs:.2f}")
        if self.distill_epochs:
            capped = f", {self.max_train_samples:,} examples" if self.max_train_samples else ""
            stopped = f", stopped after {self.distill_steps:,} steps" if self.distill_steps else ""
            parts.append(f"distill {self.distill_epochs} ep{capped}{stopped}")
        return " + ".join(parts)

    def to_dict(self) -> dict:
        return asdict(self)


def candidate_recipe(structure: Structure, backend: str, num_layers: int) -> Recipe | None:
    """The recipe that makes this candidate (None for the dense model as it is)."""
    steps = [*structure.steps(num_layers), *backend_steps(backend)]
    return Recipe(tuple(steps)) if steps else None
