"""ONNX int8 through ONNX Runtime's dynamic quantization."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import onnx
from onnxruntime.quantization import QuantType, quantize_dynamic

from ..quiet import quiet


@dataclass(frozen=True)
class OnnxInt8Dynamic:
    """int8 weights of MatMul/Gather/Attention nodes; activations quantized at run time.

    ``per_channel`` keeps one scale per output channel: on MiniLM-MRPC it keeps 98.5% of the
    fp32 predictions against 95% with one scale per tensor, at the same size.

    ``reduce_range`` stores 7-bit weights. On x86 CPUs without VNNI (AVX2, AVX-512 before
    Cascade Lake) ONNX Runtime's uint8 x int8 kernel adds pairs of products in int16, which
    saturates with 8-bit weights: on an AVX2-only EPYC the logits of the tiny test models came
    out 6-8% off fp32. A file may run on either kind of CPU, so the default is the safe one.
    """

    per_channel: bool = True
    reduce_range: bool = True


def quantize_onnx(source: Path, target: Path, config: OnnxInt8Dynamic = OnnxInt8Dynamic()) -> None:
    """Write an int8 copy of the ONNX model ``source`` to ``target``."""
    model = onnx.load(source)
    # The exporter records every weight's shape; the quantizer then transposes Gemm weights into
    # MatMul ones and its shape inference trips over the stale records. It infers them afresh.
    del model.graph.value_info[:]
    with quiet():
        quantize_dynamic(
            model,
            target,
            weight_type=QuantType.QInt8,
            per_channel=config.per_channel,
            reduce_range=config.reduce_range,
            nodes_to_exclude=_nodes_with_empty_weights(model),
            # ORT's fused ops (SkipLayerNormalization, ...) defeat ONNX shape inference: their
            # outputs are float.
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )


def _nodes_with_empty_weights(model: onnx.ModelProto) -> list[str]:
    """Nodes of fully pruned blocks (zero-size weights): nothing to quantize, and per-channel
    quantization fails on a weight with no channels."""
    empty = {tensor.name for tensor in model.graph.initializer if 0 in tensor.dims}
    return [node.name for node in model.graph.node if empty.intersection(node.input)]
