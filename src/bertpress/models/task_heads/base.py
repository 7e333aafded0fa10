"""The base of every task head: what a model's output means for a task, and everything that depends on it.

A task head knows the loss that pruning statistics and training use, the scores that metrics read
(and how they become predictions: windows to answer spans, sub-tokens to words), the agreement the
search screens on, which positions the last layer's reconstruction must fit, and what an exported
graph outputs. Nothing else reads a model's outputs. ("Head" alone, elsewhere, is an attention head.)
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from transformers import AutoModelForSequenceClassification, PretrainedConfig

from ...errors import BertpressError


class TaskHead:
    """Base: a head for one task; subclasses define the loss and the scores."""

    name: ClassVar[str] = ""
    # The last layer's output is read at position 0 ([CLS]) only: reconstruct only that.
    reads_first_token_only: ClassVar[bool] = True
    # Whether scores have a sequence axis (one row per token): evaluation keeps each example's real tokens.
    per_token: ClassVar[bool] = False
    # The label of an example that has none (extra text that only the teacher labels).
    unlabeled: ClassVar[float | int]
    # The outputs a model of this head returns (and an exported graph is named by), in order.
    output_names: ClassVar[tuple[str, ...]] = ("logits",)
    # The tags a per-token head labels, in index order (encoding maps the data's tags by it).
    label_names: tuple[str, ...] = ()
    # The transformers class a fresh head of this kind is built with, and its architectures' suffix.
    auto_model: ClassVar[type] = AutoModelForSequenceClassification
    architecture_suffix: ClassVar[str] = "ForSequenceClassification"

    def __init__(self, num_labels: int):
        self.num_labels = num_labels

    def check(self, config: PretrainedConfig, task_name: str = "") -> None:
        """Refuse a model whose outputs do not fit this head: a head of another kind, or another size."""
        trained = trained_head_suffix(config)
        if trained is not None and trained != self.architecture_suffix:
            raise BertpressError(
                f"the model is a {_kind(trained)} model; task '{task_name}' needs {_kind(self.architecture_suffix)}"
            )
        if config.num_labels != self.num_labels:
            raise BertpressError(
                f"the model has {config.num_labels} output label(s) but task '{task_name}' needs {self.num_labels}"
            )

    def scores(self, outputs) -> torch.Tensor:
        """What the metrics read, as a float tensor (an exported model may hand back numpy)."""
        return torch.as_tensor(outputs.logits).float()

    def loss(self, model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        inputs = {name: value for name, value in batch.items() if name != "labels"}
        return self.loss_from_scores(self.scores(model(**inputs)), batch["labels"])

    def loss_from_scores(self, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def example_losses(self, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The task loss of each example, 0 where the example has no label (``unlabeled``)."""
        raise NotImplementedError

    def soft_losses(
        self, scores: torch.Tensor, teacher_scores: torch.Tensor, temperature: float, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Each example's distance from the teacher's output (distillation's main term); ``mask``
        marks the real tokens, for heads whose scores have a sequence axis."""
        raise NotImplementedError

    def comparable(self, scores: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The part of a batch's scores that ``agreement`` compares, free of the batch's padding,
        so that batches of different lengths concatenate."""
        return scores

    def agreement(self, scores: torch.Tensor, reference: torch.Tensor) -> float:
        """How closely ``scores`` follow a reference model's on the same inputs, in points (100 = the
        same): a cheap stand-in for the dev metric when screening compressed models. Both come
        from ``comparable``."""
        raise NotImplementedError

    def decode(self, scores: list[np.ndarray], features, examples) -> tuple:
        """``(predictions, references)`` for the metrics, from each encoded feature's scores (in
        the features' order, a per-token head's cut to the feature's real tokens). The one piece of
        post-processing every runtime's outputs go through."""
        return np.stack(scores), np.asarray(features["labels"])

    def eval_length(self, max_length: int, config: PretrainedConfig) -> int:
        """The tokens per example evaluation encodes at (windowed or per-token heads may need another)."""
        return max_length


def tempered_kl(scores: torch.Tensor, teacher_scores: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(teacher || student) over the last axis at ``temperature``, times its square so gradients
    keep their scale (Hinton et al. 2015); one value per row."""
    log_student = F.log_softmax(scores.float() / temperature, dim=-1)
    log_teacher = F.log_softmax(teacher_scores.float() / temperature, dim=-1)
    return F.kl_div(log_student, log_teacher, log_target=True, reduction="none").sum(-1) * temperature**2


# The architecture suffixes of the task heads (``BertForQuestionAnswering``): a model with one of
# them was fine-tuned for that kind of task; any other (``BertModel``, ``BertForMaskedLM``) has none yet.
TASK_HEAD_SUFFIXES = ("ForSequenceClassification", "ForQuestionAnswering", "ForTokenClassification")


def trained_head_suffix(config: PretrainedConfig) -> str | None:
    """Which task head a model folder was fine-tuned with (its architecture's suffix), if any."""
    return next((suffix for name in getattr(config, "architectures", None) or [] for suffix in TASK_HEAD_SUFFIXES if name.endswith(suffix)), None)


def _kind(suffix: str) -> str:
    """``ForQuestionAnswering`` -> ``question answering``."""
    words = "".join(f" {char.lower()}" if char.isupper() else char for char in suffix.removeprefix("For"))
    return words.strip()


def model_label_names(config: PretrainedConfig) -> list[str]:
    """The label names in index order; empty for transformers' placeholders (LABEL_0, ...)."""
    names = [str(config.id2label[index]) for index in sorted(config.id2label)] if config.id2label else []
    return [] if all(name == f"LABEL_{index}" for index, name in enumerate(names)) else names
