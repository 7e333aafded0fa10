"""One adapter per encoder family, found by the config's ``model_type``."""

from __future__ import annotations

from torch import nn

from ...errors import BertpressError
from .base import Adapter, LayerPaths
from .bert import BertAdapter, ElectraAdapter, RobertaAdapter
from .deberta import DebertaV2Adapter
from .distilbert import DistilBertAdapter
from .modernbert import ModernBertAdapter
from .mpnet import MPNetAdapter

ADAPTERS: dict[str, type[Adapter]] = {
    model_type: cls
    for cls in (
        BertAdapter, RobertaAdapter, ElectraAdapter, DistilBertAdapter, MPNetAdapter, DebertaV2Adapter,
        ModernBertAdapter,
    )
    for model_type in cls.model_types
}


def get_adapter(model: nn.Module) -> Adapter:
    model_type = getattr(model.config, "model_type", None)
    if model_type not in ADAPTERS:
        supported = ", ".join(sorted(ADAPTERS))
        raise BertpressError(f"no adapter for model family '{model_type}' (supported: {supported})")
    return ADAPTERS[model_type](model)


__all__ = ["ADAPTERS", "Adapter", "LayerPaths", "get_adapter"]
