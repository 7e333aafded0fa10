"""OpenVINO: the exported graph as OpenVINO IR (fp32, or int8 through NNCF); ``runtime.openvino`` runs it.

The IR is converted from PyTorch where that conversion computes what PyTorch computes: OpenVINO
then keeps attention as one ``ScaledDotProductAttention`` op, which its CPU plugin runs as one
kernel and NNCF leaves in fp32 (int8 all-MiniLM-L6-v2 ran 1.1-1.3x faster than from the ONNX
graph, whose attention is decomposed into products that NNCF quantizes). Where the conversion
fails or differs, the IR comes from the plain traced ONNX graph (OpenVINO reads standard ONNX
ops, not ONNX Runtime's fused ones), and the report says why. Weights are saved in fp32.

OpenVINO cannot run zero-size matrices, which a pruned model has where a block lost every head
or neuron: the graph is converted from a copy in which each such block keeps one unit with zero
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

from ..errors import first_line
from ..measure.latency import sample_inputs
from ..measure.size import weights_size_mb
from ..models.adapters import get_adapter
from ..models.modeling_bertpress import EmptyAttention
from ..outputs import write_json
from ..quantize import OpenVinoInt8, quantize_openvino
from ..quantize.onnx_static import layer_nodes
from ..quiet import quiet
from ..runtime.backends import backend_of, weight_file
from ..runtime.openvino import OpenVinoModel
from .onnx import (
    TOLERANCE, TRACE_SHAPE, ExportReport, StaticCalibration, check_inputs, export_config, graph_output_names,
    input_names, max_abs_diff, with_token_types, write_onnx,
)

FP32_FILE = backend_of("openvino", None).file
INT8_FILE = backend_of("openvino", "static").file


def write_openvino(model: PreTrainedModel, folder: Path, static: StaticCalibration | None = None) -> ExportReport:
    """Into the existing ``folder``: the fp32 OpenVINO backend's .xml/.bin, or with ``static`` the
    int8 one calibrated on its feeds; config.json and export.json."""
    config = export_config(model)
    with tempfile.TemporaryDirectory(prefix="bertpress-openvino-") as scratch:
        graph, plain, layers = _converted(model, config, Path(scratch))
    outcome, target = None, folder / FP32_FILE
    if static is not None:
        judge = static.judge and (lambda quantized: static.judge(_saved(quantized, folder / INT8_FILE, config)))
        graph, outcome = quantize_openvino(
            graph, static.feeds, layers, OpenVinoInt8(static.config.tolerance), judge, static.deadline
        )
        target = folder / INT8_FILE
    _saved(graph, target, config)
    config.save_pretrained(folder)
    diff = max_abs_diff(model, OpenVinoModel(target, config), check_inputs(config, plain.inputs))
    report = replace(
        plain, file=target.name, max_abs_diff=diff if static is None else plain.max_abs_diff,
        int8_max_abs_diff=diff if static is not None else None, size_mb=weights_size_mb(target.with_name(weight_file(target.name))),
        int8_mode="static" if static is not None else None, fp32_layers=outcome.fp32_layers if outcome else [],
        fallback_cut_short=outcome.cut_short if outcome else False,
    )
    write_json(folder / "export.json", report.to_dict())
    return report


def _converted(model: PreTrainedModel, config, scratch: Path) -> tuple[object, ExportReport, dict[int, list[str]]]:
    """The fp32 OpenVINO graph of ``model``, the report of its conversion and each encoder layer's
    op names (for the int8 per-layer fallback): from PyTorch where exact, else from ONNX."""
    padded = _without_empty_blocks(model)
    adapter = get_adapter(padded)
    prefixes = [adapter.layer_paths(index).layer for index in range(adapter.num_layers)]
    names = input_names(model)
    why = adapter.fused_attention_refusal
    if why is None:
        try:
            graph = _from_torch(padded, names)
            diff = max_abs_diff(model, _saved(graph, scratch / FP32_FILE, config), check_inputs(config, names))
            why = None if diff <= TOLERANCE else f"it differs from PyTorch by {diff:.3g}"
        except Exception as error:  # noqa: BLE001 - the converter's errors share no base class; each means: take ONNX
            why = f"it failed: {first_line(error)}"
    if why is None:  # size_mb is the caller's to fill in, once the file it keeps is written
        report = ExportReport(FP32_FILE, names, None, [], diff, None, 0.0, converted_from="pytorch")
        return graph, report, _torch_layer_ops(graph, prefixes)
    return _from_onnx(padded, config, scratch, prefixes, why)


def _from_onnx(padded: PreTrainedModel, config, scratch: Path, prefixes: list[str], why: str):
    """``_converted``'s fallback: the graph OpenVINO reads from the plain traced ONNX file."""
    import onnx
    import openvino as ov

    plain = write_onnx(padded, scratch, config, fuse=False)
    onnx_file = scratch / plain.file
    layers = layer_nodes(onnx.load(onnx_file, load_external_data=False), prefixes)
    report = replace(plain, converted_from=f"onnx (the conversion from PyTorch was not kept: {why})")
    return ov.convert_model(str(onnx_file)), report, layers


class _Traced(nn.Module):
    """``model`` with the graph's inputs as arguments and its outputs as a tuple: what OpenVINO's converter traces."""

    def __init__(self, model: nn.Module, outputs: list[str]):
        super().__init__()
        self.model, self.outputs = model, outputs

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        types = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        result = self.model(input_ids=input_ids, attention_mask=attention_mask, **types)
        return tuple(getattr(result, name) for name in self.outputs)


def _from_torch(model: PreTrainedModel, names: list[str]):
    import openvino as ov

    outputs = graph_output_names(model)
    example = with_token_types(sample_inputs(model.config, *TRACE_SHAPE), names)
    with quiet(), torch.no_grad():
        graph = ov.convert_model(_Traced(model, outputs), example_input=example)
    for port, name in zip(graph.outputs, outputs, strict=True):
        port.get_tensor().set_names({name})
    return graph


def _torch_layer_ops(graph, prefixes: list[str]) -> dict[int, list[str]]:
    """Each encoder layer's op names: a converted op's name starts with the module path it came from
    (``__module.model.encoder.layer.3.attention.self.query/aten::linear/MatMul``)."""
    found: dict[int, list[str]] = {}
    for op in graph.get_ops():
        scope = "." + op.get_friendly_name().split("/", 1)[0] + "."
        index = next((i for i, prefix in enumerate(prefixes) if f".{prefix}." in scope), None)
        if index is not None:
            found.setdefault(index, []).append(op.get_friendly_name())
    return found


def _saved(graph, path: Path, config) -> OpenVinoModel:
    """Write ``graph`` to ``path`` (fp32 weights kept: OpenVINO would halve them by default)."""
    import openvino as ov

    ov.save_model(graph, str(path), compress_to_fp16=False)
    return OpenVinoModel(path, config)


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
