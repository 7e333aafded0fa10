"""ModernBERT: pre-LayerNorm layers with one fused Q/K/V projection, a gated FFN (GeGLU), no
biases, rotary positions, and local (sliding-window) or global attention per layer."""

from __future__ import annotations

from torch import nn

from .base import Adapter, LayerPaths


class ModernBertAdapter(Adapter):
    model_types = ("modernbert",)

    def layer_paths(self, index: int) -> LayerPaths:
        layer = f"layers.{index}"
        qkv = f"{layer}.attn.Wqkv"
        return LayerPaths(
            layer=layer,
            attention=f"{layer}.attn",
            query=qkv,
            key=qkv,
            value=qkv,
            attention_output=f"{layer}.attn.Wo",
            attention_norm=f"{layer}.mlp_norm",
            ffn_input=f"{layer}.mlp.Wi",
            ffn_output=f"{layer}.mlp.Wo",
            ffn_norm=self._next_norm(index),
            attention_output_attr="Wo",
        )

    def _next_norm(self, index: int) -> str:
        """The LayerNorm after layer ``index``'s FFN block: the next layer's attention norm, or the
        encoder's final one."""
        return f"layers.{index + 1}.attn_norm" if index + 1 < self.num_layers else "final_norm"

    def head_projections(self, index: int) -> dict[str, int]:
        # Wqkv's rows are the query block, then the key block, then the value block, each head by head.
        return {self.layer_paths(index).query: 3}

    def neuron_projections(self, index: int) -> dict[str, int]:
        # Wi's rows are the input half, then the gate half (``Wi(x).chunk(2)``), each neuron by neuron.
        return {self.layer_paths(index).ffn_input: 2}

    @property
    def tuning_refusal(self) -> str | None:
        # reconstruct.py streams post-LayerNorm layers (a layer's output is its FFN LayerNorm's output),
        # hands every layer what layer 0 gets, and fits an output bias: ModernBERT's layers are
        # pre-LayerNorm, get a mask and rotary positions per attention type, and have no biases.
        return ("its pre-LayerNorm layers pass on the unnormalised sum and take layer-type-specific masks and "
                "rotary positions, which mask tuning does not model; prune with tuning off "
                "(--no-tune; tune: false in a recipe)")

    @property
    def fused_attention_refusal(self) -> str | None:
        # Seen on a tiny model (window 8): a check batch of 13 tokens cannot show it for a real model's 128.
        return ("a padded position whose sliding window holds no real token attends to nothing: OpenVINO's fused "
                "attention gives it NaN, which the next layers spread to every position")

    def keep_layers(self, kept: list[int]) -> None:
        # The stock model builds layer i with attention type ``layer_types[i]``: the types follow their layers.
        layer_types = self.config.layer_types
        super().keep_layers(kept)
        self.config.layer_types = [layer_types[i] for i in kept]

    def spec_entries(self) -> dict:
        """The stock model builds layer 0 without an attention norm (an Identity: the embeddings end
        with a LayerNorm); once layer 0 is dropped, the new first layer's LayerNorm must be rebuilt."""
        path = f"{self.layer_paths(0).layer}.attn_norm"
        norm = self.module(path)
        if not isinstance(norm, nn.LayerNorm):
            return {"layer_norms": {}}
        return {"layer_norms": {path: {"eps": norm.eps, "bias": norm.bias is not None}}}
