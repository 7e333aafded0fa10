"""Sentence-level heads: a class (sequence classification) or a score (regression) per example."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import TaskHead, tempered_kl


class SequenceClassification(TaskHead):
    name = "sequence_classification"
    unlabeled = -100  # cross_entropy's ignore_index

    def loss_from_scores(self, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(scores.view(-1, self.num_labels), labels.view(-1))

    def example_losses(self, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(scores.view(-1, self.num_labels), labels.view(-1), reduction="none")

    def soft_losses(
        self, scores: torch.Tensor, teacher_scores: torch.Tensor, temperature: float, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """KL(teacher || student) at ``temperature``, times its square so gradients keep their scale
        (Hinton et al. 2015)."""
        return tempered_kl(scores, teacher_scores, temperature)

    def agreement(self, scores: torch.Tensor, reference: torch.Tensor) -> float:
        """The share of examples given the reference's label."""
        return 100 * float((scores.argmax(-1) == reference.argmax(-1)).float().mean())


class Regression(TaskHead):
    name = "regression"

    unlabeled = float("nan")

    def loss_from_scores(self, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(scores.view(-1), labels.view(-1).to(scores.dtype))

    def example_losses(self, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        labels = labels.view(-1).to(scores.dtype)
        known = ~torch.isnan(labels)
        return torch.where(known, (scores.view(-1) - labels.nan_to_num()) ** 2, torch.zeros_like(labels))

    def soft_losses(
        self, scores: torch.Tensor, teacher_scores: torch.Tensor, temperature: float, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The squared distance to the teacher's score (a temperature means nothing for a regression)."""
        return (scores.float().view(-1) - teacher_scores.float().view(-1)) ** 2

    def agreement(self, scores: torch.Tensor, reference: torch.Tensor) -> float:
        """Pearson correlation with the reference's scores."""
        pair = torch.stack([scores.float().view(-1), reference.float().view(-1)])
        return 100 * float(torch.corrcoef(pair)[0, 1])
