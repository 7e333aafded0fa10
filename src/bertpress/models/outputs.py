"""Model outputs beyond transformers' own: a sentence embedding."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers.utils import ModelOutput


@dataclass
class EmbeddingOutput(ModelOutput):
    sentence_embedding: torch.Tensor | None = None
    last_hidden_state: torch.Tensor | None = None  # sentence-transformers' token embeddings
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None
