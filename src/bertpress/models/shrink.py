"""Physically remove pruned heads, neurons and whole layers, folding tuned scales into the weights.

The result is an ordinary module tree with smaller Linears (``EmptyAttention`` where a layer
keeps no head, fewer layers where layers were dropped), so it runs faster with any runtime and
saves as a normal checkpoint.
"""

from __future__ import annotations

import torch
from torch import nn

from .adapters import Adapter
from .modeling_bertpress import EmptyAttention, _linear


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
    head_size = adapter.head_size
    for index in range(adapter.num_layers):
        paths = adapter.layer_paths(index)
        _shrink_attention(adapter, paths, head_masks[index], head_size)
        neuron_mask = neuron_masks[index]
        kept = neuron_mask.nonzero().flatten()
        adapter.base.set_submodule(paths.ffn_input, _shrink_linear(adapter.ffn_input(index), rows=kept))
        adapter.base.set_submodule(
            paths.ffn_output,
            _shrink_linear(adapter.ffn_output(index), columns=kept, column_scale=neuron_mask[kept]),
        )
    adapter.config.bertpress = pruning_spec(adapter)


def _shrink_attention(adapter: Adapter, paths, head_mask: torch.Tensor, head_size: int) -> None:
    kept_heads = head_mask.nonzero().flatten()
    output = adapter.module(paths.attention_output)
    if len(kept_heads) == 0:
        empty = EmptyAttention(adapter.hidden_size, paths.attention_output_attr)
        adapter.base.set_submodule(paths.attention, empty)
        adapter.base.set_submodule(paths.attention_output, _shrink_linear(output, columns=kept_heads))
        return
    dims = (kept_heads[:, None] * head_size + torch.arange(head_size)).flatten()
    for path in (paths.query, paths.key, paths.value):
        adapter.base.set_submodule(path, _shrink_linear(adapter.module(path), rows=dims))
    scale = head_mask[kept_heads].repeat_interleave(head_size)
    adapter.base.set_submodule(paths.attention_output, _shrink_linear(output, columns=dims, column_scale=scale))


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
        linears = [paths.attention_output, paths.ffn_input, paths.ffn_output]
        if isinstance(adapter.module(paths.attention), EmptyAttention):
            empty_attention[paths.attention] = paths.attention_output_attr
        else:
            linears += [paths.query, paths.key, paths.value]
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
    }
