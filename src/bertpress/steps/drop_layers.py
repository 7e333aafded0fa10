"""The ``drop_layers`` step: remove whole encoder layers, a fixed list or a count by a strategy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from ..errors import BertpressError
from ..models.shrink import drop_layers, source_layers
from ..prune.layers import choose_layers
from .base import StepConfig, register_step
from .state import State


@dataclass(frozen=True)
class DropLayersStep(StepConfig):
    """``layers``: the indices to drop (of the model this step receives); or ``count`` layers
    chosen by ``strategy``: ``top``, ``alternate`` or ``fisher`` (see ``prune.layers``)."""

    name: ClassVar[str] = "drop_layers"

    layers: tuple[int, ...] | None = None
    count: int | None = None
    strategy: Literal["top", "alternate", "fisher"] = "fisher"

    def __post_init__(self):
        if (self.layers is None) == (self.count is None):
            raise BertpressError("step 'drop_layers' takes either 'layers' (a list) or 'count', not both or neither")
        if self.count is not None and self.count < 1:
            raise BertpressError(f"step 'drop_layers': count must be at least 1, got {self.count}")
        if self.layers is not None and (not self.layers or len(set(self.layers)) != len(self.layers)):
            raise BertpressError(f"step 'drop_layers': layers must be a non-empty list without repeats, got {list(self.layers)}")

    def layers_left(self, num_layers: int) -> int:
        """The layer count after this step, for a model of ``num_layers``; refuses a step that cannot apply."""
        dropped = self.count if self.count is not None else len(self.layers)
        if self.layers is not None and not all(0 <= index < num_layers for index in self.layers):
            raise BertpressError(
                f"step 'drop_layers': layers {list(self.layers)} are not all in 0..{num_layers - 1} "
                f"(the model has {num_layers} layers here)"
            )
        if dropped >= num_layers:
            raise BertpressError(
                f"step 'drop_layers' would remove all {num_layers} layers; keep at least one"
            )
        return num_layers - dropped


def run_drop_layers(state: State, config: DropLayersStep) -> dict:
    num_layers = state.adapter.num_layers
    config.layers_left(num_layers)
    if config.layers is not None:
        layers = sorted(config.layers)
    else:
        gradients = state.gradients() if config.strategy == "fisher" else None
        layers = choose_layers(config.strategy, config.count, num_layers, gradients)
    source = source_layers(state.adapter)
    drop_layers(state.adapter, layers)
    state.model_changed()
    return {"dropped_layers": [source[i] for i in layers], "layers": state.adapter.num_layers}


register_step(DropLayersStep, run_drop_layers)
