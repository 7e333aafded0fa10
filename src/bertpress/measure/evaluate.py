"""Scoring a model on a task's examples.

``evaluate`` relies on a narrow surface only: ``model(**inputs).logits`` under ``torch.no_grad()``
and ``model.config.num_labels``. That lets an ONNX Runtime wrapper stand in for a torch model.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from datasets import Dataset
from tqdm.auto import tqdm
from transformers import PretrainedConfig

from ..data.tasks import Task
from ..data.tokenize import encode, iter_batches
from ..errors import BertpressError
from .metrics import compute_metrics


@dataclass
class EvalResult:
    task: str
    split: str
    num_examples: int
    metrics: dict[str, float]

    def to_dict(self) -> dict:
        return asdict(self)


def check_model_fits_task(model, task: Task) -> None:
    check_config_fits_task(model.config, task)


def check_config_fits_task(config: PretrainedConfig, task: Task) -> None:
    if config.num_labels != task.num_labels:
        raise BertpressError(
            f"the model has {config.num_labels} output label(s) but task '{task.name}' needs {task.num_labels}"
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
) -> EvalResult:
    """The task's metrics for ``model`` on ``dataset`` (as ``data.sources.load_split`` returns it)."""
    check_model_fits_task(model, task)
    if len(dataset) == 0:
        raise BertpressError(f"no {task.name} {split} examples to evaluate on")
    encoded = encode(dataset, tokenizer, max_length)
    logits, labels = [], []
    with torch.no_grad():
        # Sorted by length for less padding; each prediction still meets its own label.
        for batch in tqdm(
            iter_batches(encoded, tokenizer, batch_size, sort_by_length=True),
            desc=f"evaluating {task.name} {split}",
            total=math.ceil(len(encoded) / batch_size),
            disable=not progress,
        ):
            labels.append(batch.pop("labels").numpy())
            # as_tensor: an ONNX Runtime wrapper may hand back numpy logits.
            logits.append(torch.as_tensor(model(**batch).logits).float().numpy())
    metrics = compute_metrics(task, np.concatenate(logits), np.concatenate(labels))
    return EvalResult(task.name, split, len(dataset), metrics)
