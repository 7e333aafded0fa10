"""The distillation objective: a weighted sum of four terms, each averaged per example.

- ``logits``: the student's output against the teacher's (KL at a temperature; squared error
  for a regression), on every example, labeled or not.
- ``hidden``: squared error between the student's layer outputs and the teacher's at mapped
  layers (TinyBERT); a learned projection when their widths differ.
- ``attention``: KL between attention distributions, on mapped layers whose head counts match.
- ``task``: the task loss on gold labels (unlabeled examples contribute nothing).

Each term is a mean over the *examples* of per-example values, so a batch split between
processes averages to exactly the loss of the whole batch (what data parallelism computes).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..models.task_heads import TaskHead


@dataclass(frozen=True)
class DistillWeights:
    logits: float = 1.0
    hidden: float = 0.0
    attention: float = 0.0
    task: float = 0.0
    temperature: float = 2.0

    @property
    def needs_hidden(self) -> bool:
        return self.hidden > 0

    @property
    def needs_attention(self) -> bool:
        return self.attention > 0

    @property
    def needs_teacher_states(self) -> bool:
        """Whether a term reads more of the teacher than its scores (which can be kept per example)."""
        return self.needs_hidden or self.needs_attention


def layer_map(student_layers: int, teacher_layers: int) -> list[int]:
    """The teacher layer each student layer imitates: uniform (student layer j of S covers the
    teacher's first (j+1)·T/S layers), the identity when the depths agree."""
    return [round((index + 1) * teacher_layers / student_layers) - 1 for index in range(student_layers)]


class Distiller(nn.Module):
    """The student and its projection, as one module whose forward returns the loss.

    The teacher stays outside (no gradients, not wrapped for data parallelism); its scores come in
    with the batch (perhaps read back from ``cache.TeacherScores``), and its hidden states and
    attentions with them when a term needs them. Only the student is kept afterwards.
    """

    def __init__(self, student: nn.Module, teacher: nn.Module, task_head: TaskHead, weights: DistillWeights):
        super().__init__()
        self.student = student
        self.task_head = task_head
        self.weights = weights
        student_width, teacher_width = student.config.hidden_size, teacher.config.hidden_size
        self.projection = nn.Linear(student_width, teacher_width) if student_width != teacher_width else nn.Identity()
        self.mapping = layer_map(student.config.num_hidden_layers, teacher.config.num_hidden_layers)

    def forward(
        self, inputs: dict, labels: torch.Tensor, teacher_scores: torch.Tensor, teacher_outputs=None
    ) -> tuple[torch.Tensor, dict]:
        outputs = self.student(
            **inputs, output_hidden_states=self.weights.needs_hidden, output_attentions=self.weights.needs_attention
        )
        scores = self.task_head.scores(outputs)
        mask = inputs["attention_mask"]
        parts = {"logits": self.task_head.soft_losses(scores, teacher_scores, self.weights.temperature, mask).mean()}
        if self.weights.task > 0:
            parts["task"] = self.task_head.example_losses(scores, labels).mean()
        if self.weights.needs_hidden:
            parts["hidden"] = self._hidden_loss(outputs.hidden_states, teacher_outputs.hidden_states, mask)
        if self.weights.needs_attention:
            parts["attention"] = self._attention_loss(outputs.attentions, teacher_outputs.attentions, mask)
        total = sum(getattr(self.weights, name) * value for name, value in parts.items())
        return total, {name: value.detach() for name, value in parts.items()}

    def _hidden_loss(self, student: tuple, teacher: tuple, mask: torch.Tensor) -> torch.Tensor:
        """Mean squared error over each example's real tokens; hidden_states[0] is the embeddings."""
        losses = []
        for index, target in enumerate(self.mapping):
            error = (self.projection(student[index + 1].float()) - teacher[target + 1].float()).pow(2).mean(-1)
            losses.append((error * mask).sum(1) / mask.sum(1))
        return torch.stack(losses).mean(0).mean()

    def _attention_loss(self, student: tuple, teacher: tuple, mask: torch.Tensor) -> torch.Tensor:
        """KL between attention rows of the real query tokens, on layers with equal head counts."""
        losses = []
        for index, target in enumerate(self.mapping):
            mine, theirs = student[index], teacher[target]
            if mine is None or theirs is None or mine.shape[1] != theirs.shape[1]:
                continue  # pruned heads: no head-by-head correspondence
            log_ratio = theirs.float().clamp_min(1e-12).log() - mine.float().clamp_min(1e-12).log()
            kl = (theirs.float() * log_ratio).sum(-1).mean(1)  # per example and query token
            losses.append((kl * mask).sum(1) / mask.sum(1))
        if not losses:
            return torch.zeros((), device=mask.device)
        return torch.stack(losses).mean(0).mean()
