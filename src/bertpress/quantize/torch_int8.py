"""PyTorch int8 through torchao (``torch.ao.quantization`` is deprecated)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn
from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_


@dataclass(frozen=True)
class Int8Dynamic:
    """int8 weights with one scale per output channel; activations quantized per token at run time."""

    def torchao_config(self) -> Int8DynamicActivationInt8WeightConfig:
        return Int8DynamicActivationInt8WeightConfig()


def quantize(model: nn.Module, config: Int8Dynamic = Int8Dynamic()) -> nn.Module:
    """Quantize ``model``'s Linears in place and return it.

    A fully pruned block's zero-size Linear is left as it is: it holds no weights, and torchao
    cannot compute a scale over an empty row.
    """
    quantize_(model, config.torchao_config(), filter_fn=_has_weights)
    return model


def _has_weights(module: nn.Module, _name: str) -> bool:
    return isinstance(module, nn.Linear) and module.weight.numel() > 0
