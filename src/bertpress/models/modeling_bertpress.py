"""Loads encoders pruned by bertpress, whose layers have different head counts and FFN widths.

This file is copied next to every pruned model, so that stock transformers can load it with
``trust_remote_code=True``. It therefore imports only torch and transformers.

The model's config carries a ``bertpress`` entry:
``{"linear_shapes": {path: [in_features, out_features]}, "empty_attention": {path: attr}, ...}``
with paths relative to the base model. Building the stock architecture and then resizing those
Linears (and replacing fully pruned attention blocks) gives exactly the saved module tree.
"""

from __future__ import annotations

import warnings

import torch
import transformers
from torch import nn


class EmptyAttention(nn.Module):
    """An attention block whose heads were all pruned.

    It computes nothing; the residual stream passes through. When the block owns its output
    projection (DistilBERT), that projection is kept with zero inputs so its bias still applies.
    """

    def __init__(self, hidden_size: int, output_attr: str | None = None):
        super().__init__()
        self.output_attr = output_attr
        if output_attr:
            setattr(self, output_attr, _linear(0, hidden_size))

    def forward(self, hidden_states: torch.Tensor, *args, **kwargs):
        context = hidden_states.new_zeros(*hidden_states.shape[:-1], 0)
        if self.output_attr:
            context = getattr(self, self.output_attr)(context)
        return context, None


def apply_pruned_shapes(base_model: nn.Module, spec: dict) -> None:
    """Resize ``base_model`` in place to the shapes a pruned checkpoint was saved with."""
    for path, output_attr in spec.get("empty_attention", {}).items():
        hidden_size = base_model.config.to_dict().get("hidden_size") or base_model.config.dim
        base_model.set_submodule(path, EmptyAttention(hidden_size, output_attr))
    for path, (in_features, out_features) in spec.get("linear_shapes", {}).items():
        old = base_model.get_submodule(path)
        new = _linear(in_features, out_features, old.bias is not None, old.weight.device, old.weight.dtype)
        base_model.set_submodule(path, new)


def _linear(in_features, out_features, bias=True, device=None, dtype=None) -> nn.Linear:
    with warnings.catch_warnings():  # a fully pruned block has zero-size weights; nothing to initialise
        warnings.filterwarnings("ignore", message="Initializing zero-element tensors")
        return nn.Linear(in_features, out_features, bias=bias, device=device, dtype=dtype)


def _pruned(stock_class: type) -> type:
    """A subclass of ``stock_class`` that resizes itself to the config's ``bertpress`` shapes."""

    class Pruned(stock_class):
        def __init__(self, config, *args, **kwargs):
            super().__init__(config, *args, **kwargs)
            spec = getattr(config, "bertpress", None)
            if spec:
                apply_pruned_shapes(self.base_model, spec)

    Pruned.__name__ = Pruned.__qualname__ = f"Pruned{stock_class.__name__}"
    return Pruned


_FAMILIES = ("Bert", "Roberta", "Electra", "DistilBert")
_HEADS = ("Model", "ForSequenceClassification", "ForQuestionAnswering", "ForTokenClassification")

for _family in _FAMILIES:
    for _head in _HEADS:
        _stock = getattr(transformers, f"{_family}{_head}")
        globals()[f"Pruned{_family}{_head}"] = _pruned(_stock)


def pruned_class_for(architecture: str) -> type:
    """The pruned counterpart of a stock architecture name, e.g. ``BertForSequenceClassification``."""
    name = architecture if architecture.startswith("Pruned") else f"Pruned{architecture}"
    return globals()[name]
