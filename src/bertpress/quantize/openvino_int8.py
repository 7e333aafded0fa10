"""Static int8 for OpenVINO through NNCF, with per-layer fallback to fp32.

NNCF calibrates every activation's range on sample inputs and inserts FakeQuantize nodes that
OpenVINO's CPU plugin runs as integer kernels (VNNI here): every Linear, and attention's products
where the graph has them as products (one converted from ONNX); a fused ScaledDotProductAttention
op stays in floating point, as do the sensitive ops of its transformer preset (softmax,
LayerNorm). Layers whose int8 form costs more than ``tolerance`` points of agreement stay fp32
(``quantize.fallback``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..quiet import quiet
from .fallback import StaticOutcome, with_layer_fallback


@dataclass(frozen=True)
class OpenVinoInt8:
    """``tolerance``: points of agreement with fp32 that may be lost before layers fall back to fp32."""

    tolerance: float = 1.0


def quantize_openvino(
    model,
    feeds: Sequence[dict[str, np.ndarray]],
    layer_nodes: dict[int, list[str]],
    config: OpenVinoInt8 = OpenVinoInt8(),
    judge: Callable[[object], float] | None = None,
    deadline: float | None = None,
) -> tuple[object, StaticOutcome]:
    """An int8 copy of the OpenVINO model ``model``, calibrated on ``feeds``; ``layer_nodes``: each
    encoder layer's op names; ``judge(quantized)``: points of agreement with fp32 it loses;
    ``deadline``: when the fallback must stop (``quantize.fallback``)."""
    import nncf

    made = {}

    def write(fp32_layers: list[int]) -> None:
        names = [name for index in fp32_layers for name in layer_nodes.get(index, [])]
        with quiet():
            made["model"] = nncf.quantize(
                model,
                nncf.Dataset(list(feeds)),
                model_type=nncf.ModelType.TRANSFORMER,
                subset_size=len(feeds),  # items are batches: all of them
                ignored_scope=nncf.IgnoredScope(names=names, validate=False),
            )

    outcome = with_layer_fallback(
        sorted(layer_nodes), write, judge and (lambda: judge(made["model"])), config.tolerance, deadline
    )
    return made["model"], outcome
