"""Loads encoders pruned by bertpress, whose layers have different head counts and FFN widths.

This file is copied next to every pruned model, so that stock transformers can load it with
``trust_remote_code=True``. It therefore imports only torch and transformers.

The model's config carries a ``bertpress`` entry:
``{"linear_shapes": {path: [in_features, out_features]}, "empty_attention": {path: attr},
"kept_heads": {path: [head, ...]}, "layer_norms": {path: {"eps": .., "bias": ..}}, ...}`` with paths
relative to the base model. Building the stock architecture, then replacing fully pruned attention
blocks (and, for the families in ``KEPT_HEADS_ATTENTION``, partly pruned ones), putting LayerNorms
where the stock one has none (ModernBERT's layer 0 after dropping layers) and resizing those Linears
gives exactly the saved module tree.
"""

from __future__ import annotations

import warnings

import torch
import transformers
from torch import nn
from transformers.models.deberta_v2.modeling_deberta_v2 import DisentangledSelfAttention
from transformers.models.mpnet.modeling_mpnet import MPNetEncoder, MPNetSelfAttention


class EmptyAttention(nn.Module):
    """An attention block whose heads were all pruned.

    It computes nothing; the residual stream passes through. When the block owns its output
    projection (DistilBERT, ModernBERT), that projection is kept with zero inputs so its bias, if
    it has one, still applies.
    """

    def __init__(self, hidden_size: int, output_attr: str | None = None, bias: bool = True):
        super().__init__()
        self.output_attr = output_attr
        if output_attr:
            setattr(self, output_attr, _linear(0, hidden_size, bias))

    def forward(self, hidden_states: torch.Tensor, *args, **kwargs):
        context = hidden_states.new_zeros(*hidden_states.shape[:-1], 0)
        if self.output_attr:
            context = getattr(self, self.output_attr)(context)
        return context, None


class KeptHeads(nn.Module):
    """Mixin for a self-attention that computes only heads ``kept_heads`` of the dense layer, in
    that order: for families whose attention reads its head count from attributes, or takes
    per-head inputs computed outside the layer for all of the dense layer's heads."""

    def __init__(self, config, kept_heads: list[int]):
        super().__init__(config)
        self.kept_heads = list(kept_heads)
        self.num_attention_heads = len(self.kept_heads)
        self.all_head_size = self.num_attention_heads * self.attention_head_size

    @staticmethod
    def adapt_base_model(base_model: nn.Module) -> None:
        """What the rest of ``base_model`` needs once a layer holds this class; most need nothing."""


class KeptHeadsMPNetSelfAttention(KeptHeads, MPNetSelfAttention):
    """MPNet's encoder computes one relative-position bias for all heads (a table shared by every
    layer) and hands it to each layer: a pruned layer adds only its own heads' columns.

    Unless the attention probabilities are asked for, it runs one fused
    ``scaled_dot_product_attention`` where the stock layer runs its matmuls, scaling, two adds and
    softmax one by one: the same numbers, but exported graphs then map it onto their fused
    attention kernels (in OpenVINO int8 at batch 32 x 128 the stock steps cost more than the
    pruned projections did)."""

    @staticmethod
    def adapt_base_model(base_model: nn.Module) -> None:
        base_model.encoder.__class__ = SharedBiasMPNetEncoder

    def forward(self, hidden_states, attention_mask=None, position_bias=None, output_attentions=False, **kwargs):
        if position_bias is not None:
            # The encoder computes the bias without position ids, the same for every row of the
            # batch (``SharedBiasMPNetEncoder`` keeps that one row; the stock one copies it).
            position_bias = position_bias[:1, self.kept_heads]
        if output_attentions:
            return super().forward(hidden_states, attention_mask, position_bias, output_attentions, **kwargs)
        heads = (*hidden_states.shape[:-1], -1, self.attention_head_size)
        query, key, value = (proj(hidden_states).view(heads).transpose(1, 2) for proj in (self.q, self.k, self.v))
        context = nn.functional.scaled_dot_product_attention(
            query, key, value, attn_mask=_added(position_bias, attention_mask),
            dropout_p=self.dropout.p if self.dropout.training else 0.0,
        )
        # A clone, not ``contiguous()``: torch.export records SDPA's CPU kernel's output as laid out
        # heads-inner, drops a ``contiguous()`` it thinks does nothing, and the ONNX exporter's
        # decomposition then cannot view the transposed heads-outer tensor it really gets.
        context = context.transpose(1, 2).clone(memory_format=torch.contiguous_format).flatten(2)
        return (self.o(context),)


class SharedBiasMPNetEncoder(MPNetEncoder):
    """MPNet's encoder, handing its layers the position bias as one row that broadcasts over the
    batch where the stock encoder copies it for every row (a bias of batch x heads x length x
    length floats, written once and read by every layer). Stock layers add it alike."""

    def compute_position_bias(self, x, position_ids=None, num_buckets=32):
        return super().compute_position_bias(x[:1], position_ids, num_buckets)


def _added(bias: torch.Tensor | None, mask: torch.Tensor | None) -> torch.Tensor | None:
    """The additive attention mask made of a position bias and an additive padding mask (what
    MPNet's model hands its layers, as the stock layer adds it), either possibly absent."""
    if bias is None or mask is None:
        return mask if bias is None else bias
    return bias + mask


class KeptHeadsDisentangledSelfAttention(KeptHeads, DisentangledSelfAttention):
    """DeBERTa-v2 splits its projections into heads with its ``num_attention_heads``."""


# model_type -> the class a partly pruned self-attention of that family becomes.
KEPT_HEADS_ATTENTION: dict[str, type[KeptHeads]] = {
    "mpnet": KeptHeadsMPNetSelfAttention,
    "deberta-v2": KeptHeadsDisentangledSelfAttention,
}


def with_kept_heads(attention: nn.Module, config, kept_heads: list[int]) -> KeptHeads:
    """``attention`` (stock or kept-heads) as its family's kept-heads class computing heads
    ``kept_heads`` of the dense layer; it takes over ``attention``'s projections as they are."""
    with torch.device("meta"):  # its own projections are replaced at once: no need to allocate them
        kept = KEPT_HEADS_ATTENTION[config.model_type](config, kept_heads)
    for name, child in attention.named_children():
        setattr(kept, name, child)
    return kept.train(attention.training)


def emptied(attention: nn.Module, hidden_size: int, output_attr: str | None) -> EmptyAttention:
    """The ``EmptyAttention`` replacing ``attention``: its output projection, if it owns one, keeps
    a bias only if it had one."""
    output = getattr(attention, output_attr) if output_attr else None
    return EmptyAttention(hidden_size, output_attr, bias=output is not None and output.bias is not None)


def apply_pruned_shapes(base_model: nn.Module, spec: dict) -> None:
    """Resize ``base_model`` in place to the shapes a pruned checkpoint was saved with."""
    hidden_size = base_model.config.to_dict().get("hidden_size") or base_model.config.dim
    for path, output_attr in spec.get("empty_attention", {}).items():
        base_model.set_submodule(path, emptied(base_model.get_submodule(path), hidden_size, output_attr))
    for path, options in spec.get("layer_norms", {}).items():
        base_model.set_submodule(path, nn.LayerNorm(hidden_size, eps=options["eps"], bias=options["bias"]))
    for path, kept_heads in spec.get("kept_heads", {}).items():
        attention = base_model.get_submodule(path)
        base_model.set_submodule(path, with_kept_heads(attention, base_model.config, kept_heads))
    if spec.get("kept_heads"):
        KEPT_HEADS_ATTENTION[base_model.config.model_type].adapt_base_model(base_model)
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


_FAMILIES = ("Bert", "Roberta", "Electra", "DistilBert", "MPNet", "DebertaV2", "ModernBert")
_HEADS = ("Model", "ForSequenceClassification", "ForQuestionAnswering", "ForTokenClassification")

for _family in _FAMILIES:
    for _head in _HEADS:
        _stock = getattr(transformers, f"{_family}{_head}")
        globals()[f"Pruned{_family}{_head}"] = _pruned(_stock)


def pruned_class_for(architecture: str) -> type:
    """The pruned counterpart of a stock architecture name, e.g. ``BertForSequenceClassification``."""
    name = architecture if architecture.startswith("Pruned") else f"Pruned{architecture}"
    return globals()[name]
