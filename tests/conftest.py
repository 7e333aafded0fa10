"""Shared fixtures: tiny random models of each family, and the shared teachers/data when present."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    DistilBertConfig,
    DistilBertForSequenceClassification,
    ElectraConfig,
    ElectraForSequenceClassification,
    RobertaConfig,
    RobertaForSequenceClassification,
)

torch.set_num_threads(min(2, torch.get_num_threads()))

_SMALL = dict(vocab_size=120, max_position_embeddings=64)
_BERT_LIKE = dict(hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=64, **_SMALL)

FAMILIES = {
    "bert": lambda n: BertForSequenceClassification(BertConfig(num_labels=n, **_BERT_LIKE)),
    "roberta": lambda n: RobertaForSequenceClassification(
        RobertaConfig(num_labels=n, pad_token_id=1, **_BERT_LIKE)
    ),
    "electra": lambda n: ElectraForSequenceClassification(
        ElectraConfig(num_labels=n, embedding_size=16, **_BERT_LIKE)
    ),
    "distilbert": lambda n: DistilBertForSequenceClassification(
        DistilBertConfig(num_labels=n, dim=32, n_layers=3, n_heads=4, hidden_dim=64, **_SMALL)
    ),
}


def tiny_model(family: str = "bert", num_labels: int = 2, seed: int = 0):
    """A randomly initialised 3-layer, 4-head, 32-wide model in eval mode."""
    torch.manual_seed(seed)
    return FAMILIES[family](num_labels).eval()


@pytest.fixture(params=sorted(FAMILIES))
def family(request) -> str:
    return request.param


def shared_dir() -> Path | None:
    """``$BERTPRESS_SHARED`` (the folder with ``models/`` and ``data/``), if it exists."""
    path = os.environ.get("BERTPRESS_SHARED")
    return Path(path) if path and Path(path, "models").is_dir() else None


@pytest.fixture
def shared() -> Path:
    path = shared_dir()
    if path is None:
        pytest.skip("BERTPRESS_SHARED is not set to the shared teachers and data")
    return path
