"""What a model folder holds: family, per-layer sizes, parameters and MACs."""

from __future__ import annotations

from ..export.onnx_model import OnnxClassifier, torch_module
from ..models.adapters import get_adapter
from .macs import count_params, model_macs


def describe(model, seq_length: int = 128) -> dict:
    """Architecture and size of a loaded model (PyTorch, or ONNX through its config)."""
    module = torch_module(model)
    adapter = get_adapter(module)
    return {
        "family": module.config.model_type,
        "architecture": type(module).__name__.removeprefix("Pruned"),
        "format": f"onnx ({model.path.name})" if isinstance(model, OnnxClassifier) else "pytorch",
        "pruned": bool(getattr(module.config, "bertpress", None)),
        "num_labels": module.config.num_labels,
        "layers": adapter.num_layers,
        "hidden_size": adapter.hidden_size,
        "head_size": adapter.head_size,
        "heads_per_layer": adapter.heads_per_layer(),
        "neurons_per_layer": adapter.neurons_per_layer(),
        "params": count_params(module),
        "macs": model_macs(adapter, seq_length),
        "seq_length": seq_length,
    }
