"""Fisher importance of heads and neurons from mask gradients (Kwon et al. 2022, section 4.1).

Each batch's task loss is backpropagated to all-ones masks; the per-batch mask gradients are kept
(rearrangement needs them), and a unit's importance is the sum of its squared gradients.
Only the masks require gradients, so backward skips every weight gradient, and each layer's
activations are recomputed during backward rather than kept: a base-size model's activations over a
batch of 32 passages of 256 tokens take about 7 GB, one layer's a twelfth of that (the cost is one
more forward pass, and the gradients are the same).

Under ``accelerate launch`` each process takes every N-th batch on its own device and fills only
those rows; summing the rows across processes gives every process the whole statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from ..distributed import processes, sum_across
from ..errors import BertpressError
from ..memory import varying_shapes
from ..models.adapters import Adapter
from ..models.hooks import recomputed_layers
from ..models.task_heads import TaskHead
from .masks import Masks, apply_masks


@dataclass
class MaskGradients:
    heads: list[torch.Tensor]  # per layer: [num_batches, heads in layer]
    neurons: list[torch.Tensor]  # per layer: [num_batches, neurons in layer]

    def head_importance(self) -> list[torch.Tensor]:
        return [g.pow(2).sum(0) for g in self.heads]

    def neuron_importance(self) -> list[torch.Tensor]:
        return [g.pow(2).sum(0) for g in self.neurons]


@varying_shapes()
def collect_mask_gradients(
    adapter: Adapter, batches: list[dict], task_head: TaskHead, progress: bool = True
) -> MaskGradients:
    """Per-batch gradients of the task loss (true labels) with respect to all-ones masks."""
    model = adapter.model
    share = processes()
    home = next(model.parameters()).device
    masks = Masks.ones(adapter, share.device)
    for mask in masks.heads + masks.neurons:
        mask.requires_grad_(True)
    # Filled in place: one small tensor per layer, not one per batch (those fragment the heap).
    grads = [torch.zeros(len(batches), len(mask)) for mask in masks.heads + masks.neurons]
    mine = range(share.process_index, len(batches), share.num_processes)
    trainable = [p for p in model.parameters() if p.requires_grad]
    for parameter in trainable:
        parameter.requires_grad_(False)
    model.to(share.device)
    try:
        with apply_masks(adapter, masks), recomputed_layers(adapter):
            for step in tqdm(mine, desc="fisher", disable=not (progress and share.is_main_process)):
                batch = {name: value.to(share.device) for name, value in batches[step].items()}
                loss = task_head.loss(model, batch)
                if not torch.isfinite(loss):
                    raise BertpressError("the model's loss is not finite (NaN or inf) on the calibration data")
                loss.backward()
                for store, mask in zip(grads, masks.heads + masks.neurons):
                    if mask.grad is not None:  # None: the block computes nothing (emptied)
                        store[step] = mask.grad.cpu()
                        mask.grad.zero_()
    finally:
        model.to(home)
        for parameter in trainable:
            parameter.requires_grad_(True)
    grads = [sum_across(store.to(share.device)).cpu() for store in grads]
    return MaskGradients(heads=grads[: len(masks.heads)], neurons=grads[len(masks.heads) :])

