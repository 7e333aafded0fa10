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

    A Linear with fewer than two inputs or no outputs stays in fp32 (see ``_quantizable``).
    """
    quantize_(model, config.torchao_config(), filter_fn=_quantizable)
    return model


def _quantizable(module: nn.Module, _name: str) -> bool:
    """Whether torchao can quantize ``module``. It cannot when the Linear has no weights (a fully
    pruned block) or a single input (a layer that kept one FFN neuron): it computes each scale over
    a row of inputs (per output channel, and per token for the activations) and reshapes a
    one-element row wrongly. Such a Linear costs one multiply-add per output: fp32 loses nothing."""
    return isinstance(module, nn.Linear) and module.in_features > 1 and module.out_features > 0
