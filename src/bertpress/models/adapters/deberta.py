"""DeBERTa-v2 and v3: disentangled attention over one relative-position embedding table shared by
all layers, which each layer projects with its own per-head Linears."""

from __future__ import annotations

from .base import LayerPaths
from .kept_heads import KeptHeadsAdapter

# Per-head projections of the relative-position embeddings, present unless ``share_att_key``
# (then the layer's query and key projections serve).
_POSITION_PROJECTIONS = ("pos_key_proj", "pos_query_proj")


class DebertaV2Adapter(KeptHeadsAdapter):
    """A pruned layer's attention must carry its own head count: DeBERTa splits heads with it."""

    model_types = ("deberta-v2",)

    def layer_paths(self, index: int) -> LayerPaths:
        layer = f"encoder.layer.{index}"
        return LayerPaths(
            layer=layer,
            attention=f"{layer}.attention.self",
            query=f"{layer}.attention.self.query_proj",
            key=f"{layer}.attention.self.key_proj",
            value=f"{layer}.attention.self.value_proj",
            attention_output=f"{layer}.attention.output.dense",
            attention_norm=f"{layer}.attention.output.LayerNorm",
            ffn_input=f"{layer}.intermediate.dense",
            ffn_output=f"{layer}.output.dense",
            ffn_norm=f"{layer}.output.LayerNorm",
        )

    @property
    def head_size(self) -> int:
        return getattr(self.config, "attention_head_size", None) or super().head_size

    def head_projections(self, index: int) -> dict[str, int]:
        attention = self.layer_paths(index).attention
        present = [name for name in _POSITION_PROJECTIONS if hasattr(self.module(attention), name)]
        return {**super().head_projections(index), **{f"{attention}.{name}": 1 for name in present}}

    def relative_position_macs(self, seq_length: float) -> float:
        """Each head projects the shared table's 2p rows (its query and key projections when
        ``share_att_key``, else one per term) and scores each term (c2p, p2c) against all 2p rows."""
        config = self.config
        if not config.relative_attention:
            return 0.0
        span = config.position_buckets if config.position_buckets > 0 else (
            config.max_relative_positions if config.max_relative_positions >= 1 else config.max_position_embeddings)
        terms = len(config.pos_att_type or ())
        projections = 2 if config.share_att_key else terms
        return 2 * span * self.head_size * (projections * self.hidden_size + terms * seq_length)

    @property
    def tuning_refusal(self) -> str | None:
        if getattr(self.config, "conv_kernel_size", 0) > 0:
            return "the encoder convolves layer 0's output before layer 1 (DeBERTa-v2's conv_kernel_size)"
        return None
