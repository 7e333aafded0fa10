"""OpenVINO: the exported graph as OpenVINO IR (fp32, or int8 through NNCF); ``runtime.openvino`` runs it.

The IR is converted from the plain traced ONNX graph (OpenVINO reads standard ONNX ops, not ONNX
Runtime's fused ones) and saved with fp32 weights.

OpenVINO cannot run zero-size matrices, which a pruned model has where a block lost every head
or neuron: the graph is traced from a copy in which each such block keeps one unit with zero
weights (``_without_empty_blocks``), which computes exactly the same.
"""

from __future__ import annotations

import copy
import tempfile
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn
from transformers import PreTrainedModel

from ..measure.size import weights_size_mb
from ..models.adapters import get_adapter
from ..models.modeling_bertpress import EmptyAttention
from ..outputs import write_json
from ..quantize import OpenVinoInt8, quantize_openvino
from ..quantize.onnx_static import layer_nodes
from ..runtime.backends import backend_of, weight_file
from ..runtime.openvino import OpenVinoModel
from .onnx import ExportReport, StaticCalibration, _check_inputs, export_config, max_abs_diff, write_onnx

FP32_FILE = backend_of("openvino", None).file
INT8_FILE = backend_of("openvino", "static").file


def write_openvino(model: PreTrainedModel, folder: Path, static: StaticCalibration | None = None) -> ExportReport:
    """Into the existing ``folder``: the fp32 OpenVINO backend's .xml/.bin, or with ``static`` the
    int8 one calibrated on its feeds; config.json and export.json."""
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
    diff = max_abs_diff(model, OpenVinoModel(target, config), _check_inputs(config, plain.inputs))
    report = replace(
        plain, file=target.name, max_abs_diff=diff if static is None else plain.max_abs_diff,
        int8_max_abs_diff=diff if static is not None else None, size_mb=weights_size_mb(target.with_name(weight_file(target.name))),
        int8_mode="static" if static is not None else None, fp32_layers=outcome.fp32_layers if outcome else [],
    )
    write_json(folder / "export.json", report.to_dict())
    return report


def _saved(graph, path: Path, config) -> OpenVinoModel:
    """Write ``graph`` to ``path`` (fp32 weights kept: OpenVINO would halve them by default)."""
    import openvino as ov

    ov.save_model(graph, str(path), compress_to_fp16=False)
    return OpenVinoModel(path, config)


def _layer_ops(onnx_file: Path, adapter) -> dict[int, list[str]]:
    """Each encoder layer's op names; OpenVINO keeps the ONNX node names as its ops' names."""
    import onnx

    prefixes = [adapter.layer_paths(index).layer for index in range(adapter.num_layers)]
    return layer_nodes(onnx.load(onnx_file, load_external_data=False), prefixes)


class _ZeroUnit(nn.Module):
    """Stands in for a Linear with no outputs: one output that is always zero per stacked block
    (a gated FFN's input projection splits its output in two: one unit each)."""

    def __init__(self, blocks: int = 1):
        super().__init__()
        self.blocks = blocks

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return hidden_states[..., : self.blocks] * 0


class _OneZeroHead(EmptyAttention):
    """An emptied attention block whose context is one zero column instead of none."""

    def forward(self, hidden_states: torch.Tensor, *args, **kwargs):
        context = hidden_states[..., :1] * 0
        if self.output_attr:
            context = getattr(self, self.output_attr)(context)
        return context, None


@torch.no_grad()
def _without_empty_blocks(model: PreTrainedModel) -> PreTrainedModel:
    """A copy of ``model`` where every zero-size Linear has one unit (per stacked block) of zero
    weights: the same function."""
    padded = copy.deepcopy(model)
    adapter = get_adapter(padded)
    stacked = {
        id(adapter.module(path)): blocks
        for index in range(adapter.num_layers)
        for path, blocks in adapter.neuron_projections(index).items()
    }
    for name, module in list(padded.named_modules()):
        if isinstance(module, EmptyAttention):
            module.__class__ = _OneZeroHead
        if not isinstance(module, nn.Linear) or module.weight.numel():
            continue
        if module.out_features == 0:
            padded.set_submodule(name, _ZeroUnit(stacked.get(id(module), 1)))
        else:  # no inputs: one zero input column, the bias still applies
            one = nn.Linear(1, module.out_features, bias=module.bias is not None)
            one.weight.zero_()
            if module.bias is not None:
                one.bias.copy_(module.bias)
            padded.set_submodule(name, one)
    return padded
