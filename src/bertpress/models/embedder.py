"""Sentence-embedding models: an encoder and its pooling, loaded from and saved as a folder that
sentence-transformers reads (``SentenceTransformer(folder)``; ``trust_remote_code=True`` once the
layers differ in size).

``SentenceEmbedder`` is an ordinary ``nn.Module`` with the encoder's ``config`` and
``base_model``, so adapters, pruning, distillation, timing and export treat it like any model;
its output's ``sentence_embedding`` is what the ``Embedding`` task head reads.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import torch
from torch import nn

from ..errors import BertpressError
from .adapters import get_adapter
from .loading import load_config, load_encoder, resolve_model
from .outputs import EmbeddingOutput
from .pooling import Pooling
from .saving import save_model

# Architectures that carry a task head: their folders are classifiers, not embedders.
_TASK_HEADS = ("ForSequenceClassification", "ForQuestionAnswering", "ForTokenClassification", "ForMultipleChoice")


class SentenceEmbedder(nn.Module):
    """``encoder`` (a transformers base model) followed by ``pooling``."""

    def __init__(self, encoder: nn.Module, pooling: Pooling):
        super().__init__()
        self.encoder = encoder
        self.pooling = pooling
        # DistilBERT, MPNet and ModernBERT have no token types (MPNet would swallow them unused).
        self.takes_token_types = "token_type_ids" in inspect.signature(encoder.forward).parameters

    @property
    def config(self):
        return self.encoder.config

    @property
    def base_model(self) -> nn.Module:
        return self.encoder.base_model

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        output_hidden_states: bool = False,
        output_attentions: bool = False,
    ) -> EmbeddingOutput:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None and self.takes_token_types:
            inputs["token_type_ids"] = token_type_ids
        outputs = self.encoder(
            **inputs, output_hidden_states=output_hidden_states, output_attentions=output_attentions, return_dict=True
        )
        return EmbeddingOutput(
            sentence_embedding=self.pooling(outputs.last_hidden_state, attention_mask),
            last_hidden_state=outputs.last_hidden_state,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )


def load_embedder(name_or_path: str, pooling: Pooling | None = None) -> SentenceEmbedder:
    """A sentence-embedding model in eval mode; ``pooling`` replaces (or stands in for) the folder's.

    Refused: a model with a task head (a classifier is not an embedder), and a folder that
    declares no pooling when none is given (guessing would silently change every embedding).
    """
    config = load_config(name_or_path)
    heads = [name for name in config.architectures or [] if name.endswith(_TASK_HEADS)]
    if heads:
        raise BertpressError(
            f"{name_or_path} is a {heads[0].removeprefix('Pruned')} model (a task head), not a sentence-embedding model"
        )
    declared = _declared_pooling(name_or_path)
    if pooling is None and declared is None:
        raise BertpressError(
            f"{name_or_path} has no sentence-transformers pooling configuration (modules.json with a Pooling "
            f"module); pass --pooling mean, cls or max to choose one"
        )
    return SentenceEmbedder(load_encoder(name_or_path), pooling or declared).eval()


def _declared_pooling(name_or_path: str) -> Pooling | None:
    source = resolve_model(name_or_path)
    if Path(source).is_dir():
        return Pooling.read(source)
    try:  # a hub id: its modules.json and pooling config, as sentence-transformers would fetch them
        from huggingface_hub import snapshot_download

        folder = snapshot_download(source, allow_patterns=["modules.json", "*/config.json", "sentence_bert_config.json"])
    except (OSError, ValueError):  # offline, or no such files: the caller asks for --pooling
        return None
    return Pooling.read(folder)


def save_embedder(model: SentenceEmbedder, tokenizer, folder: str | Path) -> None:
    """The encoder at the folder's root (with the remote-code file when pruned) and the
    sentence-transformers module files around it."""
    save_model(model.encoder, tokenizer, folder)
    model.pooling.write(folder, get_adapter(model).hidden_size)
