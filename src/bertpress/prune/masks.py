"""Head and neuron masks, applied with our own forward hooks.

A mask entry is 0 for a pruned unit and otherwise the unit's output scale (1 before tuning).
Hooks multiply each head's context (the input of the attention output projection) and each FFN
activation (the input of the FFN output projection), so they work for every adapter and for
models that were already pruned (per-layer sizes).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from ..models.adapters import Adapter
from ..models.hooks import hooks


@dataclass
class Masks:
    heads: list[torch.Tensor]  # per layer, one entry per head the layer computes
    neurons: list[torch.Tensor]  # per layer, one entry per FFN neuron

    @classmethod
    def ones(cls, adapter: Adapter, device: torch.device | str = "cpu") -> Masks:
        return cls(
            heads=[torch.ones(n, device=device) for n in adapter.heads_per_layer()],
            neurons=[torch.ones(n, device=device) for n in adapter.neurons_per_layer()],
        )

    def kept_heads(self) -> list[int]:
        return [int((m != 0).sum()) for m in self.heads]

    def kept_neurons(self) -> list[int]:
        return [int((m != 0).sum()) for m in self.neurons]

    def clone(self) -> Masks:
        return Masks([m.detach().clone() for m in self.heads], [m.detach().clone() for m in self.neurons])

    def to_dict(self) -> dict:
        return {"heads": [m.tolist() for m in self.heads], "neurons": [m.tolist() for m in self.neurons]}


def _scale_heads(mask: torch.Tensor, head_size: int):
    def hook(_module, args):
        context = args[0]
        shape = context.shape
        scaled = context.view(*shape[:-1], -1, head_size) * mask.view(-1, 1).to(context.dtype)
        return (scaled.view(shape),) + args[1:]

    return hook


def _scale_neurons(mask: torch.Tensor):
    def hook(_module, args):
        return (args[0] * mask.to(args[0].dtype),) + args[1:]

    return hook


@contextmanager
def apply_masks(adapter: Adapter, masks: Masks) -> Iterator[Masks]:
    """Within the block the model computes as if pruned by ``masks`` (the tensors are live)."""
    handles = []
    for index in range(adapter.num_layers):
        if masks.heads[index].numel():
            handles.append(
                adapter.attention_output(index).register_forward_pre_hook(
                    _scale_heads(masks.heads[index], adapter.head_size)
                )
            )
        handles.append(adapter.ffn_output(index).register_forward_pre_hook(_scale_neurons(masks.neurons[index])))
    with hooks(handles):
        yield masks
