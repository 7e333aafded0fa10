"""Per-layer fallback to fp32 for calibrated (static) int8: quantize everything; if that loses more
than the tolerance, measure each layer's sensitivity (that layer alone kept in fp32) and keep the
most sensitive layers in fp32 until the loss is within the tolerance.

At base size one quantized variant takes tens of seconds and the fallback may make twice as many
variants as there are layers, so a caller with a time budget gives a ``deadline``: the sensitivity
sweep starts only if it and one more variant fit before it, and layers stop being added when the
next variant would not fit; the outcome then says it was cut short."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class StaticOutcome:
    """What the quantized model keeps in fp32, and what it lost against fp32 (when judged)."""

    fp32_layers: list[int] = field(default_factory=list)
    loss: float | None = None  # points of agreement lost, by the judge
    tried: int = 1  # quantized variants made to get there
    cut_short: bool = False  # the deadline stopped the fallback before the loss was within the tolerance


def with_layer_fallback(
    layers: list[int],
    write: Callable[[list[int]], None],
    judge: Callable[[], float] | None,
    tolerance: float,
    deadline: float | None = None,
) -> StaticOutcome:
    """``write(fp32_layers)`` makes the quantized model with those layers left in fp32; ``judge()``
    says how many points of agreement the model last written loses. The last write is the result.
    ``deadline``: a ``time.perf_counter()`` reading no further variant may end after."""
    started = time.perf_counter()
    write([])
    if judge is None:
        return StaticOutcome()
    loss = judge()
    if loss <= tolerance:
        return StaticOutcome([], loss)
    variant_s = time.perf_counter() - started

    def fits(variants: int) -> bool:
        return deadline is None or time.perf_counter() + variants * variant_s <= deadline

    if not fits(len(layers) + 1):  # the sweep, then at least one variant that keeps a layer
        return StaticOutcome([], loss, cut_short=True)
    alone = {}
    for index in layers:
        write([index])
        alone[index] = judge()
    kept: list[int] = []
    for index in sorted(alone, key=alone.get):  # the least loss alone marks the costliest layer
        if kept and not fits(1):
            return StaticOutcome(sorted(kept), loss, tried=1 + len(alone) + len(kept), cut_short=True)
        kept.append(index)
        write(sorted(kept))
        loss = judge()
        if loss <= tolerance:
            break
    return StaticOutcome(sorted(kept), loss, tried=1 + len(alone) + len(kept))
