"""What a model folder holds: family, per-layer sizes, parameters and MACs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..runtime.backends import backend_of_file
from ..runtime.exported import ExportedModel, torch_module
from ..formatting import format_table
from ..models.adapters import get_adapter
from ..models.shrink import source_layers
from ..reports import Report
from .macs import count_params, model_macs


@dataclass
class InfoReport(Report):
    kind: ClassVar[str] = "info"

    family: str
    architecture: str
    format: str
    pruned: bool  # compressed by bertpress: pruned units or dropped layers
    num_labels: int
    layers: int
    source_layers: list[int]  # each layer's index in the model before layers were dropped
    hidden_size: int
    head_size: int
    heads_per_layer: list[int]
    neurons_per_layer: list[int]
    params: int
    macs: int
    seq_length: int

    def render(self) -> str:
        dropped = self.source_layers != list(range(self.layers))
        summary = (
            f"{self.architecture} ({self.family}, {self.format}{', pruned' if self.pruned else ''}): "
            f"{self.layers} layers{' (others dropped)' if dropped else ''}, hidden size {self.hidden_size}, "
            f"head size {self.head_size}, {self.num_labels} labels\n"
            f"{self.params:,} parameters, {self.macs:,} MACs per sequence of {self.seq_length} tokens"
        )
        sizes = zip(self.source_layers, self.heads_per_layer, self.neurons_per_layer)
        rows = [[index, source, heads, neurons] for index, (source, heads, neurons) in enumerate(sizes)]
        return f"{summary}\n\n{format_table(['layer', 'source layer', 'heads', 'FFN neurons'], rows)}"


def _format(model) -> str:
    """How the model is stored: pytorch, or the runtime and file of an export, e.g. ``onnx (model.onnx)``."""
    if isinstance(model, ExportedModel):
        return f"{backend_of_file(model.path.name).runtime} ({model.path.name})"
    return "pytorch"


def describe(model, seq_length: int = 128) -> InfoReport:
    """Architecture and size of a loaded model (PyTorch, or ONNX through its config)."""
    module = torch_module(model)
    adapter = get_adapter(module)
    return InfoReport(
        family=module.config.model_type,
        architecture=type(module).__name__.removeprefix("Pruned"),
        format=_format(model),
        pruned=bool(getattr(module.config, "bertpress", None)),
        num_labels=module.config.num_labels,
        layers=adapter.num_layers,
        source_layers=source_layers(adapter),
        hidden_size=adapter.hidden_size,
        head_size=adapter.head_size,
        heads_per_layer=adapter.heads_per_layer(),
        neurons_per_layer=adapter.neurons_per_layer(),
        params=count_params(module),
        macs=model_macs(adapter, seq_length),
        seq_length=seq_length,
    )
