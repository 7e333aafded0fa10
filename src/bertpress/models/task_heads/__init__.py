"""Task heads, one per shape of task: what a model's outputs mean, and everything that depends on it.

``base.TaskHead`` says what a head owns. ``task_head_for`` picks a task's head (its registry entry
names it); ``task_head_for_config`` the head a saved model was trained with.
"""

from __future__ import annotations

from transformers import PretrainedConfig

from ...data.tasks import Task
from ...errors import BertpressError
from .base import TaskHead, model_label_names, trained_head_suffix
from .embedding import OBJECTIVES, Embedding, with_fisher_noise
from .sentence import Regression, SequenceClassification
from .span_qa import SpanQA
from .token_classification import TokenClassification

__all__ = [
    "OBJECTIVES", "Embedding", "Regression", "SequenceClassification", "SpanQA", "TaskHead", "TokenClassification",
    "auto_model_for", "model_label_names", "task_head_for", "task_head_for_config", "trained_head_suffix", "with_fisher_noise",
]


def auto_model_for(config: PretrainedConfig, task_head: TaskHead | None = None) -> type:
    """The transformers class that loads a model folder: the kind of head it was fine-tuned with,
    else a fresh head of ``task_head``'s kind (sequence classification when none is given)."""
    trained = trained_head_suffix(config)
    kinds = (SequenceClassification, SpanQA, TokenClassification)
    if trained is not None:
        return next(kind.auto_model for kind in kinds if kind.architecture_suffix == trained)
    return (task_head or SequenceClassification).auto_model


def task_head_for(task: Task, config: PretrainedConfig | None = None) -> TaskHead:
    """The head ``task`` needs; with the model's ``config``, a token classifier reads its label
    names (and their order) from the model, which ``TaskHead.check`` holds against the task's."""
    if task.task_head == "span_qa":
        return SpanQA()
    if task.task_head == "token_classification":
        trained = config is not None and trained_head_suffix(config) == TokenClassification.architecture_suffix
        return TokenClassification((trained and model_label_names(config)) or task.label_names)
    if task.task_head == "sequence_classification":
        return Regression(1) if task.is_regression else SequenceClassification(task.num_labels)
    raise BertpressError(f"task '{task.name}' needs a '{task.task_head}' task head, which bertpress does not have")


def task_head_for_config(config: PretrainedConfig) -> TaskHead:
    """The head a model folder was trained with, for commands that take no task (export, bench)."""
    trained = trained_head_suffix(config)
    if trained == SpanQA.architecture_suffix:
        return SpanQA()
    if trained == TokenClassification.architecture_suffix:
        return TokenClassification(model_label_names(config) or [f"LABEL_{index}" for index in range(config.num_labels)])
    if config.num_labels == 1 or getattr(config, "problem_type", None) == "regression":
        return Regression(config.num_labels)
    return SequenceClassification(config.num_labels)
