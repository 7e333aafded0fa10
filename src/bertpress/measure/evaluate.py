"""Scoring a model on a task's examples.

``evaluate`` relies on a narrow surface only: the task head reads the model's outputs under
``torch.no_grad()``, and ``model.config`` says what the model predicts. That lets an ONNX Runtime
wrapper stand in for a torch model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from datasets import Dataset
from tqdm.auto import tqdm

from ..data.tasks import Task
from ..data.tokenize import encode, iter_batches
from ..errors import BertpressError
from ..formatting import format_table
from ..models.task_heads import task_head_for
from ..reports import Report
from .metrics import compute_metrics


@dataclass
class EvalReport(Report):
    kind: ClassVar[str] = "evaluate"
    version: ClassVar[int] = 2  # 2: metrics in points (version 1 had task metrics as fractions)

    task: str
    split: str
    num_examples: int
    metrics: dict[str, float]

    def render(self) -> str:
        return format_table(
            ["task", "split", "examples", *self.metrics],
            [[self.task, self.split, self.num_examples, *self.metrics.values()]],
        )


def evaluate(
    model,
    tokenizer,
    task: Task,
    dataset: Dataset,
    *,
    split: str = "dev",
    batch_size: int = 64,
    max_length: int = 128,
    progress: bool = True,
) -> EvalReport:
    """The task's metrics for ``model`` on ``dataset`` (as ``data.sources.load_split`` returns it)."""
    task_head = task_head_for(task)
    task_head.check(model.config, task.name)
    if len(dataset) == 0:
        raise BertpressError(f"no {task.name} {split} examples to evaluate on")
    encoded = encode(dataset, tokenizer, max_length)
    scores, labels = [], []
    parameters = model.parameters() if isinstance(model, torch.nn.Module) else iter(())
    device = next(parameters, torch.empty(0)).device  # a model on a GPU is scored there
    with torch.no_grad():
        # Sorted by length for less padding; each prediction still meets its own label.
        for batch in tqdm(
            iter_batches(encoded, tokenizer, batch_size, sort_by_length=True),
            desc=f"evaluating {task.name} {split}",
            total=math.ceil(len(encoded) / batch_size),
            disable=not progress,
        ):
            labels.append(batch.pop("labels").numpy())
            batch = {name: value.to(device) for name, value in batch.items()}
            scores.append(task_head.scores(model(**batch)).cpu().numpy())
            if not np.isfinite(scores[-1]).all():  # metrics of NaN outputs would pass for a score
                raise BertpressError(f"the model's outputs are not finite (NaN or inf) on {task.name} {split}")
    metrics = compute_metrics(task, np.concatenate(scores), np.concatenate(labels))
    return EvalReport(task.name, split, len(dataset), metrics)
