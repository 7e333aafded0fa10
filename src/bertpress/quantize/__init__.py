"""Quantization, in the spirit of torchao's ``quantize_(model, config)``: one frozen config per
technique and one verb per kind of model.

- ``quantize(model, Int8Dynamic())`` quantizes a PyTorch model in place (torchao);
- ``quantize_onnx(source, target, OnnxInt8Dynamic())`` writes a quantized copy of an ONNX file
  (ONNX Runtime).
"""

from .onnx_int8 import OnnxInt8Dynamic, quantize_onnx
from .torch_int8 import Int8Dynamic, quantize

__all__ = ["Int8Dynamic", "OnnxInt8Dynamic", "quantize", "quantize_onnx"]
