"""Quantization, in the spirit of torchao's ``quantize_(model, config)``: one frozen config per
technique and one verb per kind of model.

- ``quantize(model, Int8Dynamic())`` quantizes a PyTorch model in place (torchao);
- ``quantize_onnx(source, target, OnnxInt8Dynamic())`` writes a quantized copy of an ONNX file
  (ONNX Runtime);
- ``quantize_onnx_static(source, target, feeds, layer_prefixes, OnnxInt8Static(), judge)`` writes
  a calibrated static int8 copy (activations too, attention included), layers that lose too much
  kept in fp32;
- ``quantize_openvino(model, feeds, layer_nodes, OpenVinoInt8(), judge)`` does the same for an
  OpenVINO model through NNCF.
"""

from .onnx_int8 import OnnxInt8Dynamic, quantize_onnx
from .fallback import StaticOutcome
from .onnx_static import OnnxInt8Static, quantize_onnx_static
from .openvino_int8 import OpenVinoInt8, quantize_openvino
from .torch_int8 import Int8Dynamic, quantize

__all__ = [
    "Int8Dynamic",
    "OnnxInt8Dynamic",
    "OnnxInt8Static",
    "OpenVinoInt8",
    "StaticOutcome",
    "quantize",
    "quantize_onnx",
    "quantize_onnx_static",
    "quantize_openvino",
]
