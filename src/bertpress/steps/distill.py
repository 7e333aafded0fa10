"""The ``distill`` step: train the current model (pruned, layer-dropped, or both) to imitate a
teacher on the task's training text, plus any unlabeled text the teacher labels.

The teacher is the model the recipe started from (kept by the state) or any model folder with
the same labels and vocabulary. The objective is ``distill.losses``; the loop is ``train.loop``
(accelerate); after each epoch the student is scored on dev and checkpointed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from accelerate import Accelerator
from datasets import Dataset, concatenate_datasets

from ..data.sampling import GROUP, sample
from ..data.tokenize import collator, encode
from ..data.unlabeled import load_unlabeled
from ..distill import DistillWeights, Distiller, TeacherScores, check_teacher
from ..distributed import on_main
from ..errors import BertpressError
from ..models.hooks import recomputed_layers
from ..models.loading import load_config, load_tokenizer
from ..prune.pipeline import timed
from ..train.loop import Schedule, make_trainer, on_any_process, train_epoch
from .base import StepConfig, register_step
from .state import State


@dataclass(frozen=True)
class DistillStep(StepConfig):
    """Defaults from the sweep in benchmarks/RESULTS.md (MRPC pruned to 0.25 of the MACs): the
    hidden-state loss cost 1.2 points there, so it is off unless asked for (``hidden``)."""

    name: ClassVar[str] = "distill"
    trains: ClassVar[bool] = True

    teacher: str | None = None  # a model folder or hub id; None: the model the recipe started from
    teacher_labels_differ: bool = False  # the teacher's label names or task differ, but its outputs mean the same
    epochs: int = 3
    lr: float = 1e-4
    batch_size: int = 32  # the global batch (all processes, all accumulated micro-batches)
    gradient_accumulation: int = 1
    # Activation checkpointing of the student's layers: a base-size embedder's batch of 32 x 256
    # tokens holds 10.6 GB for backward without it (benchmarks/RESULTS.md, "bounded memory").
    recompute_layers: bool = False
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_train_samples: int | None = None  # a seeded subset of the training split (caps the steps)
    # Stop after this many optimizer steps, the learning-rate schedule still planned for all
    # epochs: how a recipe redoes a distillation that a deadline ended early.
    max_steps: int | None = None
    unlabeled_file: str | None = None  # extra text the teacher labels
    unlabeled_columns: tuple[str, ...] | None = None  # its text columns, when it is a table
    logits: float = 1.0
    hidden: float = 0.0
    attention: float = 0.0
    task: float = 0.0
    temperature: float = 2.0
    precision: Literal["no", "bf16", "fp16"] = "no"
    seed: int = 0

    def __post_init__(self):
        for name in ("epochs", "batch_size", "gradient_accumulation"):
            if getattr(self, name) < 1:
                raise BertpressError(f"step 'distill': {name} must be at least 1, not {getattr(self, name)}")
        for name in ("max_train_samples", "max_steps"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise BertpressError(f"step 'distill': {name} must be at least 1, not {getattr(self, name)}")
        if not self.lr > 0 or not self.temperature > 0:
            raise BertpressError("step 'distill': lr and temperature must be positive")
        if not 0 <= self.warmup_ratio < 1:
            raise BertpressError(f"step 'distill': warmup_ratio must be at least 0 and below 1, not {self.warmup_ratio}")
        weights = (self.logits, self.hidden, self.attention, self.task)
        if min(weights) < 0 or max(weights) == 0:
            raise BertpressError("step 'distill': the loss weights must be non-negative and not all zero")

    def input_paths(self) -> tuple[str, ...]:
        return tuple(path for path in (self.teacher, self.unlabeled_file) if path is not None)

    @property
    def weights(self) -> DistillWeights:
        return DistillWeights(self.logits, self.hidden, self.attention, self.task, self.temperature)

    @property
    def schedule(self) -> Schedule:
        return Schedule(
            epochs=self.epochs, lr=self.lr, batch_size=self.batch_size, gradient_accumulation=self.gradient_accumulation,
            warmup_ratio=self.warmup_ratio, weight_decay=self.weight_decay, seed=self.seed, precision=self.precision,
        )

    def check_inputs(self, model, tokenizer, task, task_head) -> None:
        if self.task > 0 and task_head.name == "embedding":
            raise BertpressError("step 'distill': a sentence embedding has no gold labels; the task loss weight must be 0")
        if self.teacher is not None:
            try:
                teacher_tokenizer = load_tokenizer(self.teacher)
            except BertpressError:
                teacher_tokenizer = None  # the vocabulary size is still compared
            check_teacher(
                load_config(self.teacher), teacher_tokenizer, model.config, tokenizer, task_head, self.teacher,
                labels_differ=self.teacher_labels_differ,
            )
        if self.unlabeled_file is not None:
            if task_head.per_token:
                raise BertpressError(f"step 'distill': --unlabeled-file is sentences; a {task_head.name} task has no unlabeled reader")
            load_unlabeled(self.unlabeled_file, task, self.unlabeled_columns)


def run_distill(state: State, config: DistillStep) -> dict:
    teacher = state.original if config.teacher is None else state.workload.load(config.teacher)
    dataset, labeled = training_set(state, config)
    schedule = config.schedule
    distiller = Distiller(state.model, teacher, state.task_head, config.weights)
    trainer = make_trainer(distiller, schedule, len(dataset))
    device = trainer.accelerator.device
    teacher.to(device).eval()
    collate = _numbered_collate(collator(state.tokenizer))
    weights = config.weights
    cache = _teacher_scores(state, config, len(dataset))

    def compute_loss(module, batch):
        labels, examples = batch.pop("labels"), batch.pop(EXAMPLE)
        known = cache.lookup(examples) if cache is not None else None
        if known is not None:
            return module(batch, labels, known.to(labels.device))
        with torch.no_grad():
            targets = teacher(**batch, output_hidden_states=weights.needs_hidden, output_attentions=weights.needs_attention)
        scores = state.task_head.scores(targets).float()
        if cache is not None:
            cache.store(examples, scores)
        return module(batch, labels, scores, targets)

    curve, first_epoch = _resume(state, trainer)
    done = (first_epoch - 1) * trainer.steps_per_epoch  # a resumed run's finished epochs, or its cap if that ended them
    limit = _StepLimit(config.max_steps, state.training_deadline, trainer.accelerator, taken=min(done, config.max_steps or done))
    try:
        recomputed = recomputed_layers(state.adapter) if config.recompute_layers else nullcontext()
        with _attention_outputs(weights.needs_attention, state.model, teacher), recomputed:
            for epoch in range(first_epoch, config.epochs + 1):
                if limit.stopped:
                    break
                with timed(state.timings_s, "distill"):  # per epoch, so that a checkpoint holds the time so far
                    losses = train_epoch(
                        trainer, dataset, collate, schedule, epoch, compute_loss, progress=state.progress, stop=limit.step
                    )
                state.model.eval()
                dev = on_main(lambda: state.score(state.model)) if state.score else {}
                curve.append({"epoch": epoch, **losses, **{f"dev_{name}": value for name, value in dev.items()}})
                if state.checkpoints is not None:
                    state.checkpoints.save(state, trainer, epoch, curve, state.records)
    finally:
        state.model.to("cpu").eval()
        teacher.to("cpu")
        trainer.accelerator.free_memory()
    state.model_changed()
    return {
        "teacher": config.teacher or "the model the recipe started from",
        "examples": labeled,
        "unlabeled_examples": len(dataset) - labeled,
        "optimizer_steps": limit.taken,
        "planned_steps": trainer.steps_per_epoch * config.epochs,
        "stopped_at_deadline": limit.at_deadline,
        "curve": curve,
    }


@dataclass
class _StepLimit:
    """Where training ends before its planned steps: ``max_steps`` (a recipe's cap) or
    ``deadline`` (a ``time.perf_counter()`` reading, the optimize search's budget)."""

    max_steps: int | None
    deadline: float | None
    accelerator: Accelerator  # every process stops at the same step, whatever its clock reads
    taken: int = 0  # optimizer steps so far, over all epochs (a resumed run starts with its epochs')
    at_deadline: bool = False  # the deadline, not the cap, ended training

    @property
    def stopped(self) -> bool:
        return self.at_deadline or (self.max_steps is not None and self.taken >= self.max_steps)

    def step(self) -> bool:
        """Called after each optimizer step: True when training must end there."""
        self.taken += 1
        self.at_deadline = self.deadline is not None and on_any_process(self.accelerator, time.perf_counter() >= self.deadline)
        return self.stopped


EXAMPLE = "example"  # the batch entry naming each example's row of the training set


def _numbered_collate(collate):
    """``collate``, plus each example's row number (``EXAMPLE``), by which its teacher scores are kept."""

    def collate_numbered(batch_rows: list[dict]) -> dict[str, torch.Tensor]:
        return {**collate(batch_rows), EXAMPLE: torch.tensor([row[EXAMPLE] for row in batch_rows])}

    return collate_numbered


def _teacher_scores(state: State, config: DistillStep, num_examples: int) -> TeacherScores | None:
    """Where the teacher's scores of this training set are kept: shared by every distill step of
    the recipe (a gradual recipe's stages) and of its forks (the optimize search's candidates) that
    read the same teacher on the same text; None where a term needs more of the teacher than its
    scores, or the scores are per token."""
    if config.weights.needs_teacher_states or state.task_head.per_token:
        return None
    key = (config.teacher, config.max_train_samples, config.seed, config.unlabeled_file, config.unlabeled_columns,
           config.precision, num_examples)
    return state.teacher_scores.setdefault(key, TeacherScores(num_examples))


def training_set(state: State, config: DistillStep) -> tuple[Dataset, int]:
    """The task's training examples (a seeded subset if capped), then the unlabeled text; and how
    many of them carry labels."""
    examples = state.workload.training_examples()
    if config.max_train_samples is not None:
        examples = sample(examples, config.max_train_samples, config.seed)
    label_type = state.workload.label_type
    labeled = state.workload.encode(examples, state.tokenizer, state.max_length)
    if config.unlabeled_file is None:
        return _numbered_rows(labeled), len(labeled)
    labeled = labeled.cast_column("labels", label_type)
    texts = load_unlabeled(config.unlabeled_file, state.workload.task, config.unlabeled_columns)
    texts = texts.add_column("label", [state.task_head.unlabeled] * len(texts))
    if GROUP in labeled.column_names:  # grouped text (query-passage pairs): each unlabeled text is a group of its own
        first = max(labeled[GROUP]) + 1
        texts = texts.add_column(GROUP, list(range(first, first + len(texts))))
    unlabeled = encode(texts, state.tokenizer, state.max_length).cast_column("labels", label_type)
    return _numbered_rows(concatenate_datasets([labeled, unlabeled])), len(labeled)


def _numbered_rows(dataset: Dataset) -> Dataset:
    return dataset.add_column(EXAMPLE, list(range(len(dataset))))


def _resume(state: State, trainer) -> tuple[list[dict], int]:
    """The curve so far and the first epoch to run: from the checkpoint when resuming this step."""
    progress, state.resume = state.resume, None
    if progress is None:
        return [], 1
    trainer.load(progress.student.parent / "training")
    return list(progress.curve), progress.epoch + 1


@contextmanager
def _attention_outputs(needed: bool, *models) -> Iterator[None]:
    """Attention distributions exist only in the eager implementation (SDPA never forms them)."""
    if not needed:
        yield
        return
    before = [model.config._attn_implementation for model in models]
    for model in models:
        model.config._attn_implementation = "eager"
    try:
        yield
    finally:
        for model, implementation in zip(models, before):
            model.config._attn_implementation = implementation


register_step(DistillStep, run_distill)
