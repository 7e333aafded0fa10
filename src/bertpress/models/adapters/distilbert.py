"""DistilBERT: its own names, and the output projection inside the attention module."""

from __future__ import annotations

from .base import Adapter, LayerPaths


class DistilBertAdapter(Adapter):
    model_types = ("distilbert",)
    num_layers_key = "n_layers"

    def layer_paths(self, index: int) -> LayerPaths:
        layer = f"transformer.layer.{index}"
        return LayerPaths(
            layer=layer,
            attention=f"{layer}.attention",
            query=f"{layer}.attention.q_lin",
            key=f"{layer}.attention.k_lin",
            value=f"{layer}.attention.v_lin",
            attention_output=f"{layer}.attention.out_lin",
            attention_norm=f"{layer}.sa_layer_norm",
            ffn_input=f"{layer}.ffn.lin1",
            ffn_output=f"{layer}.ffn.lin2",
            ffn_norm=f"{layer}.output_layer_norm",
            attention_output_attr="out_lin",
        )

    @property
    def hidden_size(self) -> int:
        return self.config.dim

    @property
    def head_size(self) -> int:
        return self.config.dim // self.config.n_heads
