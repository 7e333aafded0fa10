"""Families whose self-attention must know which heads of the dense layer it computes."""

from __future__ import annotations

from ..modeling_bertpress import KeptHeads, with_kept_heads
from .base import Adapter


class KeptHeadsAdapter(Adapter):
    """A partly pruned layer's self-attention becomes ``modeling_bertpress.KeptHeads`` (the
    family's class in ``KEPT_HEADS_ATTENTION``), recording its heads' indices in the dense layer;
    the spec's ``kept_heads`` rebuilds it at load."""

    def keep_heads(self, index: int, kept: list[int]) -> None:
        path = self.layer_paths(index).attention
        attention = self.module(path)
        current = attention.kept_heads if isinstance(attention, KeptHeads) else range(self.config.num_attention_heads)
        self.base.set_submodule(path, with_kept_heads(attention, self.config, [current[i] for i in kept]))
        self.module(path).adapt_base_model(self.base)

    def spec_entries(self) -> dict:
        paths = [self.layer_paths(index).attention for index in range(self.num_layers)]
        kept = {path: self.module(path).kept_heads for path in paths if isinstance(self.module(path), KeptHeads)}
        return {"kept_heads": kept}
