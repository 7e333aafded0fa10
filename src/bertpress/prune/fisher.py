"""Fisher importance of heads and neurons from mask gradients (Kwon et al. 2022, section 4.1).

Each batch's task loss is backpropagated to all-ones masks; the per-batch mask gradients are kept
(rearrangement needs them), and a unit's importance is the sum of its squared gradients.
Only the masks require gradients, so backward skips every weight gradient.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from ..models.adapters import Adapter
from .masks import Masks, apply_masks


@dataclass
class MaskGradients:
    heads: list[torch.Tensor]  # per layer: [num_batches, heads in layer]
    neurons: list[torch.Tensor]  # per layer: [num_batches, neurons in layer]

    def head_importance(self) -> list[torch.Tensor]:
        return [g.pow(2).sum(0) for g in self.heads]

    def neuron_importance(self) -> list[torch.Tensor]:
        return [g.pow(2).sum(0) for g in self.neurons]


def collect_mask_gradients(adapter: Adapter, batches: list[dict], progress: bool = True) -> MaskGradients:
    """Per-batch gradients of the task loss (true labels) with respect to all-ones masks."""
    model = adapter.model
    masks = Masks.ones(adapter)
    for mask in masks.heads + masks.neurons:
        mask.requires_grad_(True)
    head_grads: list[list[torch.Tensor]] = [[] for _ in masks.heads]
    neuron_grads: list[list[torch.Tensor]] = [[] for _ in masks.neurons]
    trainable = [p for p in model.parameters() if p.requires_grad]
    for parameter in trainable:
        parameter.requires_grad_(False)
    try:
        with apply_masks(adapter, masks):
            for batch in tqdm(batches, desc="fisher", disable=not progress):
                model(**batch).loss.backward()
                for grads, mask in zip(head_grads + neuron_grads, masks.heads + masks.neurons):
                    grads.append(mask.grad.clone() if mask.grad is not None else torch.zeros_like(mask))
                    mask.grad = None
    finally:
        for parameter in trainable:
            parameter.requires_grad_(True)
    return MaskGradients(
        heads=[torch.stack(g) for g in head_grads],
        neurons=[torch.stack(g) for g in neuron_grads],
    )
