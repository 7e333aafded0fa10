"""Physically remove pruned heads, neurons and whole layers, folding tuned scales into the weights.

The result is an ordinary module tree with smaller Linears (``EmptyAttention`` where a layer
keeps no head, fewer layers where layers were dropped), so it runs faster with any runtime and
saves as a normal checkpoint.
"""

from __future__ import annotations

import torch
from torch import nn

from .adapters import Adapter
from .modeling_bertpress import EmptyAttention, _linear, emptied


@torch.no_grad()
def _shrink_linear(
    linear: nn.Linear,
    rows: torch.Tensor | None = None,
    columns: torch.Tensor | None = None,
    column_scale: torch.Tensor | None = None,
) -> nn.Linear:
    """A new Linear with only ``rows`` (outputs) and ``columns`` (inputs), columns scaled."""
    weight = linear.weight
    bias = linear.bias
    if rows is not None:
        weight = weight[rows]
        bias = bias[rows] if bias is not None else None
    if columns is not None:
        weight = weight[:, columns]
        if column_scale is not None:
            weight = weight * column_scale.to(weight.dtype)
    new = _linear(weight.shape[1], weight.shape[0], bias is not None, weight.device, weight.dtype)
    new.weight.copy_(weight)
    if bias is not None:
        new.bias.copy_(bias)
    return new


def shrink(adapter: Adapter, head_masks: list[torch.Tensor], neuron_masks: list[torch.Tensor]) -> None:
    """Keep the units whose mask is non-zero, scaling each kept unit's output by its mask value.

    ``head_masks[i]`` has one entry per head layer ``i`` computes now, ``neuron_masks[i]`` one per
    FFN neuron. Afterwards the masked model and the shrunk model compute the same function.
    """
    for index in range(adapter.num_layers):
        head_mask, neuron_mask = head_masks[index], neuron_masks[index]
        kept_heads = head_mask.nonzero().flatten()
        shrink_heads(adapter, index, kept_heads.tolist(), head_mask[kept_heads])
        kept_neurons = neuron_mask.nonzero().flatten()
        _shrink_ffn(adapter, index, kept_neurons, neuron_mask[kept_neurons])
    adapter.config.bertpress = pruning_spec(adapter)


def shrink_heads(adapter: Adapter, index: int, kept: list[int], scales: torch.Tensor | None = None) -> None:
    """Keep heads ``kept`` (current indices) of layer ``index``, in that order, each head's output
    scaled by its entry of ``scales``. The config's spec is ``shrink``'s business."""
    paths = adapter.layer_paths(index)
    output = adapter.module(paths.attention_output)
    if not kept:
        attention = emptied(adapter.module(paths.attention), adapter.hidden_size, paths.attention_output_attr)
        adapter.base.set_submodule(paths.attention, attention)
        adapter.base.set_submodule(paths.attention_output, _shrink_linear(output, columns=torch.tensor([], dtype=torch.long)))
        return
    head_size = adapter.head_size
    dims = (torch.tensor(kept)[:, None] * head_size + torch.arange(head_size)).flatten()
    _shrink_rows(adapter, adapter.head_projections(index), dims)
    scale = None if scales is None else scales.repeat_interleave(head_size)
    adapter.base.set_submodule(paths.attention_output, _shrink_linear(output, columns=dims, column_scale=scale))
    adapter.keep_heads(index, kept)


def _shrink_ffn(adapter: Adapter, index: int, kept: torch.Tensor, scales: torch.Tensor) -> None:
    _shrink_rows(adapter, adapter.neuron_projections(index), kept)
    path = adapter.layer_paths(index).ffn_output
    adapter.base.set_submodule(path, _shrink_linear(adapter.module(path), columns=kept, column_scale=scales))


def _shrink_rows(adapter: Adapter, projections: dict[str, int], rows: torch.Tensor) -> None:
    """Keep ``rows`` of each block of each of ``projections`` (path -> number of stacked blocks)."""
    for path, blocks in projections.items():
        linear = adapter.module(path)
        width = linear.out_features // blocks
        stacked = torch.cat([rows + block * width for block in range(blocks)])
        adapter.base.set_submodule(path, _shrink_linear(linear, rows=stacked))


def drop_layers(adapter: Adapter, layers: list[int]) -> None:
    """Remove the encoder layers ``layers`` (current indices); the rest are renumbered from 0."""
    source = source_layers(adapter)
    kept = [index for index in range(adapter.num_layers) if index not in set(layers)]
    adapter.keep_layers(kept)
    adapter.config.bertpress = {**pruning_spec(adapter), "source_layers": [source[i] for i in kept]}


def source_layers(adapter: Adapter) -> list[int]:
    """For each current layer, its index in the model before any layer was dropped."""
    spec = getattr(adapter.config, "bertpress", None) or {}
    return list(spec.get("source_layers", range(adapter.num_layers)))


def pruning_spec(adapter: Adapter) -> dict:
    """The ``bertpress`` config entry from which ``modeling_bertpress`` rebuilds this module tree."""
    linear_shapes: dict[str, list[int]] = {}
    empty_attention: dict[str, str | None] = {}
    for index in range(adapter.num_layers):
        paths = adapter.layer_paths(index)
        linears = [paths.attention_output, *adapter.neuron_projections(index), paths.ffn_output]
        if isinstance(adapter.module(paths.attention), EmptyAttention):
            empty_attention[paths.attention] = paths.attention_output_attr
        else:
            linears += adapter.head_projections(index)
        for path in linears:
            module = adapter.module(path)
            linear_shapes[path] = [module.in_features, module.out_features]
    return {
        "version": 1,
        "source_layers": source_layers(adapter),
        "heads_per_layer": adapter.heads_per_layer(),
        "neurons_per_layer": adapter.neurons_per_layer(),
        "empty_attention": empty_attention,
        "linear_shapes": linear_shapes,
        **adapter.spec_entries(),
    }
