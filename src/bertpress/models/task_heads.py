"""Task heads: what a model's output means for a task, and everything that depends on it.

A task head knows the loss that pruning statistics and training use, the scores that metrics read,
the agreement the search screens on, and which positions the classifier reads (reconstruction of
the last layer fits only those). Nothing else reads a model's outputs. Span question answering
would join here as a further task head. ("Head" alone, elsewhere, is an attention head.)
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from transformers import PretrainedConfig

from ..data.tasks import Task
from ..errors import BertpressError


class TaskHead:
    """Base: a head for one task; subclasses define the loss and the scores."""

    name: ClassVar[str] = ""
    # The last layer's output is read at position 0 ([CLS]) only: reconstruct only that.
    reads_first_token_only: ClassVar[bool] = True
    # The label of an example that has none (extra text that only the teacher labels).
    unlabeled: ClassVar[float | int]

    def __init__(self, num_labels: int):
        self.num_labels = num_labels

    def check(self, config: PretrainedConfig, task_name: str = "") -> None:
        """Refuse a model whose outputs do not fit this head."""
        if config.num_labels != self.num_labels:
            raise BertpressError(
                f"the model has {config.num_labels} output label(s) but task '{task_name}' needs {self.num_labels}"
            )

    def scores(self, outputs) -> torch.Tensor:
        """What the metrics read, as a float tensor (an ONNX wrapper may hand back numpy)."""
        return torch.as_tensor(outputs.logits).float()

    def loss(self, model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        inputs = {name: value for name, value in batch.items() if name != "labels"}
        return self.loss_from_scores(self.scores(model(**inputs)), batch["labels"])

    def loss_from_scores(self, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def example_losses(self, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The task loss of each example, 0 where the example has no label (``UNLABELED``)."""
        raise NotImplementedError

    def soft_losses(self, scores: torch.Tensor, teacher_scores: torch.Tensor, temperature: float) -> torch.Tensor:
        """Each example's distance from the teacher's output (distillation's main term)."""
        raise NotImplementedError

    def agreement(self, scores: torch.Tensor, reference: torch.Tensor) -> float:
        """How closely ``scores`` follow a reference model's on the same inputs, in points (100 = the
        same): a cheap stand-in for the dev metric when screening compressed models."""
        raise NotImplementedError


class SequenceClassification(TaskHead):
    name = "sequence_classification"
    unlabeled = -100  # cross_entropy's ignore_index

    def loss_from_scores(self, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(scores.view(-1, self.num_labels), labels.view(-1))

    def example_losses(self, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(scores.view(-1, self.num_labels), labels.view(-1), reduction="none")

    def soft_losses(self, scores: torch.Tensor, teacher_scores: torch.Tensor, temperature: float) -> torch.Tensor:
        """KL(teacher || student) at ``temperature``, times its square so gradients keep their scale
        (Hinton et al. 2015)."""
        log_student = F.log_softmax(scores.float() / temperature, dim=-1)
        log_teacher = F.log_softmax(teacher_scores.float() / temperature, dim=-1)
        kl = F.kl_div(log_student, log_teacher, log_target=True, reduction="none").sum(-1)
        return kl * temperature**2

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

    def soft_losses(self, scores: torch.Tensor, teacher_scores: torch.Tensor, temperature: float) -> torch.Tensor:
        """The squared distance to the teacher's score (a temperature means nothing for a regression)."""
        return (scores.float().view(-1) - teacher_scores.float().view(-1)) ** 2

    def agreement(self, scores: torch.Tensor, reference: torch.Tensor) -> float:
        """Pearson correlation with the reference's scores."""
        pair = torch.stack([scores.float().view(-1), reference.float().view(-1)])
        return 100 * float(torch.corrcoef(pair)[0, 1])


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

    def soft_losses(self, scores: torch.Tensor, teacher_scores: torch.Tensor, temperature: float) -> torch.Tensor:
        """The distance to the teacher's embedding (sentence-transformers distils with MSE)."""
        return self._distance(scores.float(), teacher_scores.float())

    def agreement(self, scores: torch.Tensor, reference: torch.Tensor) -> float:
        """The mean cosine similarity with the reference's embeddings."""
        return 100 * float(F.cosine_similarity(scores.float(), reference.float(), dim=-1).mean())

    def _distance(self, scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.objective == "cosine":
            return 1 - F.cosine_similarity(scores, targets, dim=-1)
        return (scores - targets).pow(2).mean(-1)


OBJECTIVES = ("mse", "cosine")


def with_fisher_noise(embeddings: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Targets for the ``Embedding`` head's pruning statistics: ``embeddings`` plus noise of their own scale."""
    noise = torch.randn(embeddings.shape, generator=generator, dtype=embeddings.dtype)
    return embeddings + noise * embeddings.std()


def task_head_for(task: Task) -> TaskHead:
    """The head ``task`` needs (its registry entry names it)."""
    if task.task_head != "sequence_classification":
        raise BertpressError(f"task '{task.name}' needs a '{task.task_head}' task head, which bertpress does not have yet")
    return Regression(1) if task.is_regression else SequenceClassification(task.num_labels)


def task_head_for_config(config: PretrainedConfig) -> TaskHead:
    """The head a model folder was trained with, for commands that take no task (export, bench)."""
    if config.num_labels == 1 or getattr(config, "problem_type", None) == "regression":
        return Regression(config.num_labels)
    return SequenceClassification(config.num_labels)
