"""Per-layer fallback to fp32 for calibrated (static) int8: quantize everything; if that loses more
than the tolerance, measure each layer's sensitivity (that layer alone kept in fp32) and keep the
most sensitive layers in fp32 until the loss is within the tolerance."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class StaticOutcome:
    """What the quantized model keeps in fp32, and what it lost against fp32 (when judged)."""

    fp32_layers: list[int] = field(default_factory=list)
    loss: float | None = None  # points of agreement lost, by the judge
    tried: int = 1  # quantized variants made to get there


def with_layer_fallback(
    layers: list[int], write: Callable[[list[int]], None], judge: Callable[[], float] | None, tolerance: float
) -> StaticOutcome:
    """``write(fp32_layers)`` makes the quantized model with those layers left in fp32; ``judge()``
    says how many points of agreement the model last written loses. The last write is the result."""
    write([])
    if judge is None:
        return StaticOutcome()
    loss = judge()
    if loss <= tolerance:
        return StaticOutcome([], loss)
    alone = {}
    for index in layers:
        write([index])
        alone[index] = judge()
    kept: list[int] = []
    for index in sorted(alone, key=alone.get):  # the least loss alone marks the costliest layer
        kept.append(index)
        write(sorted(kept))
        loss = judge()
        if loss <= tolerance:
            break
    return StaticOutcome(sorted(kept), loss, tried=1 + len(alone) + len(kept))
