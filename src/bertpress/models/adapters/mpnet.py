"""MPNet: BERT's layer with the output projection inside the self-attention, and one
relative-position bias table shared by all layers (see ``modeling_bertpress.KeptHeadsMPNetSelfAttention``)."""

from __future__ import annotations

from transformers import PretrainedConfig

from .base import LayerPaths
from .kept_heads import KeptHeadsAdapter

# MPNet numbers positions from its padding index + 1, and that index is fixed at 1 whatever the
# config's pad_token_id (transformers' MPNetEmbeddings).
_PADDING_INDEX = 1


class MPNetAdapter(KeptHeadsAdapter):
    model_types = ("mpnet",)

    def layer_paths(self, index: int) -> LayerPaths:
        layer = f"encoder.layer.{index}"
        return LayerPaths(
            layer=layer,
            attention=f"{layer}.attention.attn",
            query=f"{layer}.attention.attn.q",
            key=f"{layer}.attention.attn.k",
            value=f"{layer}.attention.attn.v",
            attention_output=f"{layer}.attention.attn.o",
            attention_norm=f"{layer}.attention.LayerNorm",
            ffn_input=f"{layer}.intermediate.dense",
            ffn_output=f"{layer}.output.dense",
            ffn_norm=f"{layer}.output.LayerNorm",
            attention_output_attr="o",
        )

    @classmethod
    def first_position(cls, config: PretrainedConfig) -> int:
        return _PADDING_INDEX + 1
