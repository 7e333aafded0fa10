"""OpenVINO: the exported graph as OpenVINO IR (fp32, or int8 through NNCF), and the model that runs it.

The IR is converted from the plain traced ONNX graph (OpenVINO reads standard ONNX ops, not ONNX
Runtime's fused ones) and saved with fp32 weights. OpenVINO's CPU plugin would run fp32 models in
bf16 on CPUs that have it (this one does); ``OpenVinoClassifier`` pins f32 so that an
``openvino-fp32`` result means fp32, and int8 models keep f32 for what is not quantized.

OpenVINO cannot run zero-size matrices, which a pruned model has where a block lost every head
or neuron: the graph is traced from a copy in which each such block keeps one unit with zero
weights (``_without_empty_blocks``), which computes exactly the same.
"""

from __future__ import annotations

import copy
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedModel

from ..errors import BertpressError, first_line
from ..measure.size import weights_size_mb
from ..models.adapters import get_adapter
from ..models.modeling_bertpress import EmptyAttention
from ..outputs import write_json
from ..quantize import OpenVinoInt8, quantize_openvino
from ..quantize.onnx_static import layer_nodes
from .onnx import ExportReport, StaticCalibration, _check_inputs, export_config, max_abs_diff, write_onnx
from .onnx_model import OPENVINO_FILES, OnnxClassifier

FP32_FILE, INT8_FILE = OPENVINO_FILES


class OpenVinoClassifier(OnnxClassifier):
    """An OpenVINO IR file and its model's config, run by OpenVINO's CPU plugin (f32 where not int8)."""

    def _start_session(self, threads: int | None) -> None:
        import openvino as ov

        options = {"INFERENCE_PRECISION_HINT": "f32"}
        if threads:
            options["INFERENCE_NUM_THREADS"] = threads
        try:
            self.compiled = ov.Core().compile_model(str(self.path), "CPU", options)
        except RuntimeError as error:
            raise BertpressError(f"{self.path} is damaged or not an OpenVINO model ({first_line(error)})") from error
        self.input_names = [port.get_any_name() for port in self.compiled.inputs]
        self.threads = threads

    def _run(self, feeds: dict) -> np.ndarray:
        return self.compiled(feeds)[self.compiled.output(self.output_name)]


def write_openvino(model: PreTrainedModel, folder: Path, static: StaticCalibration | None = None) -> ExportReport:
    """Into the existing ``folder``: openvino_model.xml/.bin (fp32), or with ``static`` the int8
    openvino_model.int8.xml/.bin calibrated on its feeds; config.json and export.json."""
    import openvino as ov

    config = export_config(model)
    padded = _without_empty_blocks(model)
    adapter = get_adapter(padded)
    with tempfile.TemporaryDirectory(prefix="bertpress-openvino-") as scratch:
        plain = write_onnx(padded, Path(scratch), config, fuse=False)
        graph = ov.convert_model(str(Path(scratch) / plain.file))
        layers = _layer_ops(Path(scratch) / plain.file, adapter)
    outcome, target = None, folder / FP32_FILE
    if static is not None:
        judge = static.judge and (lambda quantized: static.judge(_saved(quantized, folder / INT8_FILE, config)))
        graph, outcome = quantize_openvino(graph, static.feeds, layers, OpenVinoInt8(static.config.tolerance), judge)
        target = folder / INT8_FILE
    _saved(graph, target, config)
    config.save_pretrained(folder)
    diff = max_abs_diff(model, OpenVinoClassifier(target, config), _check_inputs(config, plain.inputs))
    report = replace(
        plain, file=target.name, max_abs_diff=diff if static is None else plain.max_abs_diff,
        int8_max_abs_diff=diff if static is not None else None, size_mb=weights_size_mb(target.with_suffix(".bin")),
        int8_mode="static" if static is not None else None, fp32_layers=outcome.fp32_layers if outcome else [],
    )
    write_json(folder / "export.json", report.to_dict())
    return report


def _saved(graph, path: Path, config) -> OpenVinoClassifier:
    """Write ``graph`` to ``path`` (fp32 weights kept: OpenVINO would halve them by default)."""
    import openvino as ov

    ov.save_model(graph, str(path), compress_to_fp16=False)
    return OpenVinoClassifier(path, config)


def _layer_ops(onnx_file: Path, adapter) -> dict[int, list[str]]:
    """Each encoder layer's op names; OpenVINO keeps the ONNX node names as its ops' names."""
    import onnx

    prefixes = [adapter.layer_paths(index).layer for index in range(adapter.num_layers)]
    return layer_nodes(onnx.load(onnx_file, load_external_data=False), prefixes)


class _ZeroUnit(nn.Module):
    """Stands in for a Linear with no outputs: one output that is always zero."""

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return hidden_states[..., :1] * 0


class _OneZeroHead(EmptyAttention):
    """An emptied attention block whose context is one zero column instead of none."""

    def forward(self, hidden_states: torch.Tensor, *args, **kwargs):
        context = hidden_states[..., :1] * 0
        if self.output_attr:
            context = getattr(self, self.output_attr)(context)
        return context, None


@torch.no_grad()
def _without_empty_blocks(model: PreTrainedModel) -> PreTrainedModel:
    """A copy of ``model`` where every zero-size Linear has one unit of zero weights (the same function)."""
    padded = copy.deepcopy(model)
    for name, module in list(padded.named_modules()):
        if isinstance(module, EmptyAttention):
            module.__class__ = _OneZeroHead
        if not isinstance(module, nn.Linear) or module.weight.numel():
            continue
        if module.out_features == 0:
            padded.set_submodule(name, _ZeroUnit())
        else:  # no inputs: one zero input column, the bias still applies
            one = nn.Linear(1, module.out_features, bias=module.bias is not None)
            one.weight.zero_()
            if module.bias is not None:
                one.bias.copy_(module.bias)
            padded.set_submodule(name, one)
    return padded
