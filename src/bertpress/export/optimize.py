"""ONNX Runtime's transformer graph fusions, kept only where they fit a pruned model's shapes.

``onnxruntime.transformers.optimizer`` fuses LayerNorm + residual (SkipLayerNormalization), bias
+ GELU (BiasGelu) and, on graphs whose pattern it recognises, a whole attention block
(Attention) whose ``num_heads`` is one number for the model. Pruned layers keep different head
counts, so a fused attention that assumes the dense count splits a pruned layer's Q/K/V into
heads of the wrong size. Such a graph is rejected here, and the caller keeps the plain export,
which ONNX Runtime's generic graph optimizations still optimize when a session loads it.

On graphs from the torch.export-based exporter (what bertpress writes) ORT's attention pattern
matches no layer, dense or pruned, so only the per-layer-agnostic fusions apply; the check
guards graphs where it does match (those of the legacy TorchScript exporter).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import onnx
from onnxruntime.transformers.optimizer import optimize_model

from ..errors import first_line
from ..quiet import quiet


@dataclass(frozen=True)
class Fusions:
    """The outcome of ORT's transformer fusions on one graph."""

    fused_operators: dict[str, int] = field(default_factory=dict)  # op type -> count in ORT's fused graph
    rejected: str = ""  # why that graph was not kept; empty when it was


def fuse_transformer_ops(source: Path, target: Path, num_heads: int, hidden_size: int) -> Fusions:
    """Run ORT's BERT fusions on ``source``; save the result to ``target`` if it fits every layer.

    ``num_heads`` and ``hidden_size`` are the dense model's, as a user would pass them.
    """
    try:
        with quiet():
            optimized = optimize_model(str(source), model_type="bert", num_heads=num_heads, hidden_size=hidden_size)
            counts = optimized.get_fused_operator_statistics()
    except Exception as error:  # the optimizer's pattern code fails in many ways; the plain graph still works
        return Fusions(rejected=f"the optimizer failed: {first_line(error)}")
    fused = {op: count for op, count in counts.items() if count}
    misfits = misfit_attention(optimized.model, head_size=hidden_size // num_heads)
    if misfits:
        wrong = ", ".join(misfits)
        return Fusions(fused, f"fused attention assumes {num_heads} heads in every layer; wrong for {wrong}")
    if not fused:
        return Fusions(rejected="no fusion pattern matched")
    optimized.save_model_to_file(str(target))
    return Fusions(fused)


def misfit_attention(model: onnx.ModelProto, head_size: int) -> list[str]:
    """Fused attention nodes whose ``num_heads`` does not split their query width into heads of ``head_size``."""
    shapes = {tensor.name: list(tensor.dims) for tensor in model.graph.initializer}
    misfits = []
    for node in model.graph.node:
        attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if "num_heads" in attributes and _query_width(node, attributes, shapes) != attributes["num_heads"] * head_size:
            misfits.append(node.name or node.op_type)
    return misfits


def _query_width(node: onnx.NodeProto, attributes: dict, shapes: dict[str, list[int]]) -> int | None:
    """Q width of an ``Attention`` node (its packed QKV weight is [hidden, q + k + v]); None for other ops."""
    if node.op_type != "Attention":
        return None  # other fused attention ops hide the width: cannot be shown to fit
    if "qkv_hidden_sizes" in attributes:
        return attributes["qkv_hidden_sizes"][0]
    return shapes.get(node.input[1], [0, 0])[1] // 3
