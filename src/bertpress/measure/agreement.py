"""Agreement with a reference model on unlabeled inputs: the cheap proxy that screens compressed
models (and judges static int8) before the dev set is spent on them."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..models.task_heads import TaskHead


def model_scores(model, task_head: TaskHead, batches: Sequence[dict[str, torch.Tensor]]) -> torch.Tensor:
    """``task_head``'s comparable scores of ``model`` (PyTorch, or an exported model on its runtime)
    on ``batches``, all batches in one tensor."""
    scores = []
    with torch.inference_mode():
        for batch in batches:
            inputs = {name: value for name, value in batch.items() if name != "labels"}
            scores.append(task_head.comparable(task_head.scores(model(**inputs)), batch))
    return torch.cat(scores)


class AgreementProxy:
    """Points of agreement with the reference model's scores on fixed batches (100 = the same)."""

    def __init__(self, reference, task_head: TaskHead, batches: Sequence[dict[str, torch.Tensor]]):
        self.task_head = task_head
        self.batches = list(batches)
        self.reference = model_scores(reference, task_head, self.batches)

    def __call__(self, model) -> float:
        return round(self.task_head.agreement(model_scores(model, self.task_head, self.batches), self.reference), 4)

    def loss(self, model) -> float:
        """The points of agreement ``model`` loses."""
        return round(100 - self(model), 4)
