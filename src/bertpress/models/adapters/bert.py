"""BERT and the families that share its module layout: MiniLM (a BERT), RoBERTa, ELECTRA."""

from __future__ import annotations

from transformers import PretrainedConfig

from .base import Adapter, LayerPaths


class BertAdapter(Adapter):
    model_types = ("bert",)

    def layer_paths(self, index: int) -> LayerPaths:
        layer = f"encoder.layer.{index}"
        return LayerPaths(
            layer=layer,
            attention=f"{layer}.attention.self",
            query=f"{layer}.attention.self.query",
            key=f"{layer}.attention.self.key",
            value=f"{layer}.attention.self.value",
            attention_output=f"{layer}.attention.output.dense",
            attention_norm=f"{layer}.attention.output.LayerNorm",
            ffn_input=f"{layer}.intermediate.dense",
            ffn_output=f"{layer}.output.dense",
            ffn_norm=f"{layer}.output.LayerNorm",
        )


class RobertaAdapter(BertAdapter):
    model_types = ("roberta", "xlm-roberta", "camembert")

    @classmethod
    def first_position(cls, config: PretrainedConfig) -> int:
        return config.pad_token_id + 1  # positions are numbered from the padding index + 1


class ElectraAdapter(BertAdapter):
    model_types = ("electra",)

    def per_token_linears(self):
        # ELECTRA projects embeddings to the hidden size when the two differ; it sits beside
        # ``embeddings`` rather than inside it.
        projection = getattr(self.base, "embeddings_project", None)
        return super().per_token_linears() + ([projection] if projection is not None else [])
