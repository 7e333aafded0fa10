"""The sentence-embedding head: an encoder's pooled output, judged by agreement with a reference."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import AutoModel, PretrainedConfig

from ...errors import BertpressError
from .base import TaskHead


class Embedding(TaskHead):
    """A sentence embedding (the encoder's pooled output), judged by agreement with a reference.

    There are no labels: a batch's ``labels`` are target embeddings, one row per example (a NaN
    row: no target). For pruning statistics the targets are the unpruned model's embeddings plus
    Gaussian noise (``with_fisher_noise``): at the unpruned model its own embeddings would give
    zero gradients, while noisy targets give mask gradients whose squares average to the Fisher
    information of a Gaussian model of the embedding (J^T J, the output's sensitivity), and on
    an already-pruned model the gradients also pull back towards the unpruned embeddings.
    """

    name = "embedding"
    unlabeled = float("nan")
    output_names = ("sentence_embedding",)
    auto_model = AutoModel

    def __init__(self, pooling, objective: str = "mse"):
        super().__init__(num_labels=0)
        if objective not in OBJECTIVES:
            raise BertpressError(f"unknown embedding objective '{objective}' (known: {', '.join(OBJECTIVES)})")
        self.pooling = pooling
        self.objective = objective
        self.reads_first_token_only = pooling.reads_first_token_only

    def check(self, config: PretrainedConfig, task_name: str = "") -> None:
        """Any encoder has embeddings; ``models.embedder.load_embedder`` refuses task-head models."""

    def scores(self, outputs) -> torch.Tensor:
        return torch.as_tensor(outputs.sentence_embedding).float()

    def loss_from_scores(self, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.example_losses(scores, labels).mean()

    def example_losses(self, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        labels = labels.to(scores.dtype).view(len(scores), -1)
        known = ~torch.isnan(labels).any(-1)
        return torch.where(known, self._distance(scores, labels.nan_to_num()), torch.zeros_like(known, dtype=scores.dtype))

    def soft_losses(
        self, scores: torch.Tensor, teacher_scores: torch.Tensor, temperature: float, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The distance to the teacher's embedding (sentence-transformers distils with MSE)."""
        return self._distance(scores.float(), teacher_scores.float())

    def agreement(self, scores: torch.Tensor, reference: torch.Tensor) -> float:
        """The mean cosine similarity with the reference's embeddings."""
        return 100 * float(F.cosine_similarity(scores.float(), reference.float(), dim=-1).mean())

    def _distance(self, scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.objective == "mse":
            return (scores - targets).pow(2).mean(-1)
        cosine = 1 - F.cosine_similarity(scores, targets, dim=-1)
        if self.objective == "cosine":
            return cosine
        return cosine + RELATION_WEIGHT * _relation_error(scores, targets)


OBJECTIVES = ("mse", "cosine", "similarity")
# The weight of the in-batch similarity term of the ``similarity`` objective against its cosine
# term: a retrieval ranks texts by differences of cosine similarity far smaller than the cosine
# distance of a pruned model's embedding to the original's.
RELATION_WEIGHT = 10.0


def _relation_error(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per example: the mean squared difference between its cosine similarities to the batch's
    other texts and the reference's (the similarity structure a retrieval ranks by)."""
    mine, theirs = F.normalize(scores, dim=-1), F.normalize(targets, dim=-1)
    return (mine @ mine.T - theirs @ theirs.T).pow(2).mean(-1)


def with_fisher_noise(embeddings: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Targets for the ``Embedding`` head's pruning statistics: ``embeddings`` plus noise of their own scale."""
    noise = torch.randn(embeddings.shape, generator=generator, dtype=embeddings.dtype)
    return embeddings + noise * embeddings.std()
