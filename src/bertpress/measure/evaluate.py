"""Scoring a model on a task's examples.

``evaluate`` relies on a narrow surface only: the task head reads the model's outputs under
``torch.no_grad()``, and ``model.config`` says what the model predicts. That lets a model on ONNX
Runtime or OpenVINO stand in for a torch model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from datasets import Dataset
from tqdm.auto import tqdm

from ..data.tasks import DOC_STRIDE, Task
from ..data.tokenize import chunks, collator, encode, rows
from ..errors import BertpressError
from ..formatting import format_table
from ..memory import varying_shapes
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
    stride: int = DOC_STRIDE,
    progress: bool = True,
) -> EvalReport:
    """The task's metrics for ``model`` on ``dataset`` (as ``data.sources.load_split`` returns it).

    Whatever runs the model (PyTorch, ONNX Runtime, OpenVINO), its outputs reach the metrics
    through the task head's ``decode``: windows to answer spans, sub-tokens to words.
    """
    task_head = task_head_for(task, model.config)
    task_head.check(model.config, task.name)
    if len(dataset) == 0:
        raise BertpressError(f"no {task.name} {split} examples to evaluate on")
    length = task_head.eval_length(max_length, model.config)
    features = encode(dataset, tokenizer, length, stride=stride, label_names=task_head.label_names)
    scores: list[np.ndarray | None] = [None] * len(features)
    parameters = model.parameters() if isinstance(model, torch.nn.Module) else iter(())
    device = next(parameters, torch.empty(0)).device  # a model on a GPU is scored there
    collate = collator(tokenizer)
    with torch.no_grad(), varying_shapes():  # batches of many lengths (bertpress.memory)
        # Sorted by length for less padding; each feature's scores go back to its own row.
        for chunk in tqdm(
            chunks(features, batch_size, sort_by_length=True),
            desc=f"evaluating {task.name} {split}",
            disable=not progress,
        ):
            batch = collate(rows(features[chunk.tolist()]))
            batch.pop("labels", None)
            outputs = task_head.scores(model(**{name: value.to(device) for name, value in batch.items()})).cpu().numpy()
            if not np.isfinite(outputs).all():  # metrics of NaN outputs would pass for a score
                raise BertpressError(f"the model's outputs are not finite (NaN or inf) on {task.name} {split}")
            lengths = batch["attention_mask"].sum(1).tolist()
            for row, output, real in zip(chunk, outputs, lengths):
                scores[row] = output[:real] if task_head.per_token else output
    predictions, references = task_head.decode(scores, features, dataset)
    metrics = compute_metrics(task, predictions, references)
    return EvalReport(task.name, split, len(dataset), metrics)
