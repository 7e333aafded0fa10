"""Fine-tuning a base model on a task: AdamW, linear warm-up then decay, a dev score per epoch."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
from datasets import Dataset
from transformers import PretrainedConfig, set_seed

from ..card import finetune_card, folder_files, write_card
from ..data.sampling import sample
from ..data.sources import DataSource, load_split
from ..data.tasks import DOC_STRIDE, Task
from ..data.tokenize import collator, encode
from ..distributed import is_main
from ..formatting import format_table
from ..measure.evaluate import evaluate
from ..models.task_heads import TaskHead, task_head_for, trained_head_suffix
from ..models.loading import load_config, load_model, load_tokenizer
from ..models.positions import check_max_length
from ..models.saving import save_model
from ..outputs import atomic_dir, check_output
from ..reports import Report
from .config import TrainConfig
from .loop import Schedule, make_trainer, train_epoch


@dataclass
class EpochResult:
    epoch: int
    train_loss: float  # mean over the epoch's batches
    split: str  # the dev split scored after the epoch
    metrics: dict[str, float]


@dataclass
class FinetuneReport(Report):
    kind: ClassVar[str] = "finetune"
    version: ClassVar[int] = 2  # 2: metrics in points (version 1 had fractions)

    task: str
    model: str
    output: str
    config: TrainConfig
    max_train_samples: int | None
    epochs: list[EpochResult]

    def render(self) -> str:
        metrics = list(self.epochs[-1].metrics)
        rows = [[e.epoch, e.train_loss, *e.metrics.values()] for e in self.epochs]
        return f"{format_table(['epoch', 'train_loss', *metrics], rows)}\nsaved to {self.output}"


def finetune(
    model_name: str,
    task: Task,
    source: DataSource,
    output: str | os.PathLike,
    config: TrainConfig = TrainConfig(),
    *,
    max_train_samples: int | None = None,
    overwrite: bool = False,
    on_epoch: Callable[[EpochResult], None] | None = None,
    progress: bool = True,
) -> FinetuneReport:
    """Train ``model_name`` on ``task`` and save it to ``output``; nothing is written if anything fails."""
    inputs = [model_name, *source.input_paths()]
    check_output(output, overwrite=overwrite, inputs=inputs)
    config = config.for_task(task)
    base_config = load_config(model_name)
    check_max_length(base_config, config.max_length, model_name)
    task_head = task_head_for(task, base_config)
    has_head = trained_head_suffix(base_config) is not None
    if has_head:  # continue training it; a bare encoder gets a fresh head of the task's kind and size
        task_head.check(base_config, task.name)
    train_set = load_split(task, "train", source)
    if max_train_samples is not None:
        train_set = sample(train_set, max_train_samples, config.seed)
    dev_set = load_split(task, "dev", source)
    tokenizer = load_tokenizer(model_name)
    set_seed(config.seed)  # before loading: a fresh head's initial weights are random
    model = load_model(model_name, num_labels=None if has_head else task_head.num_labels, task_head=task_head)
    describe_task(model.config, task, task_head)
    history = train(
        model, tokenizer, task, train_set, dev_set, config, stride=source.doc_stride, on_epoch=on_epoch, progress=progress
    )
    report = FinetuneReport(task.name, model_name, str(output), config, max_train_samples, history)
    if is_main():  # under accelerate launch, every process holds the same trained model
        with atomic_dir(output, overwrite=overwrite, inputs=inputs) as staging:
            save_model(model, tokenizer, staging)
            write_card(staging, finetune_card(report.to_dict(), folder_files(staging)))
    return report


def train(
    model,
    tokenizer,
    task: Task,
    train_set: Dataset,
    dev_set: Dataset,
    config: TrainConfig,
    *,
    stride: int = DOC_STRIDE,
    on_epoch: Callable[[EpochResult], None] | None = None,
    progress: bool = True,
) -> list[EpochResult]:
    """Train ``model`` in place for ``config.epochs``, scoring it on ``dev_set`` after each epoch
    (``stride``: what consecutive windows of a long QA context share)."""
    task_head = task_head_for(task, model.config)
    encoded = encode(train_set, tokenizer, config.max_length, stride=stride, label_names=task_head.label_names)
    schedule = Schedule(
        epochs=config.epochs, lr=config.lr, batch_size=config.batch_size, warmup_ratio=config.warmup_ratio,
        weight_decay=config.weight_decay, max_grad_norm=config.max_grad_norm, seed=config.seed,
    )
    trainer = make_trainer(TaskLoss(model, task_head), schedule, len(encoded))
    collate = collator(tokenizer)
    history = []
    for epoch in range(1, config.epochs + 1):
        losses = train_epoch(trainer, encoded, collate, schedule, epoch, _task_loss, progress=progress)
        model.eval()
        dev = evaluate(
            model,
            tokenizer,
            task,
            dev_set,
            split=task.resolve_split("dev"),
            batch_size=2 * config.batch_size,  # no gradients to keep: larger batches fit
            max_length=config.max_length,
            stride=stride,
            progress=progress,
        )
        history.append(EpochResult(epoch, losses["loss"], dev.split, dev.metrics))
        if on_epoch is not None:
            on_epoch(history[-1])
    model.to("cpu")
    return history


class TaskLoss(torch.nn.Module):
    """The model with its task loss as the forward (what data-parallel training wraps)."""

    def __init__(self, model, task_head):
        super().__init__()
        self.model, self.task_head = model, task_head

    def forward(self, batch: dict) -> torch.Tensor:
        return self.task_head.loss(self.model, batch)


def _task_loss(module, batch: dict) -> tuple[torch.Tensor, dict]:
    return module(batch), {}


def describe_task(config: PretrainedConfig, task: Task, task_head: TaskHead) -> None:
    """Record the task in the model config, so the saved folder says what its outputs mean (a token
    classifier's tags in the head's order, which is the model's own when it had them already)."""
    config.finetuning_task = task.name
    config.problem_type = task.problem_type
    names = task_head.label_names or task.label_names
    if names:
        config.id2label = dict(enumerate(names))
        config.label2id = {name: index for index, name in enumerate(names)}
