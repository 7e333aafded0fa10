"""Extractive question answering: a start and an end logit per token; the answer is the best span.

A context longer than one window is split into overlapping windows (``data.tokenize``); each
window's tokens carry their character offsets in the context (None outside it). The answer of a
question is the best valid span over all of its windows, cut from the context's characters.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from transformers import AutoModelForQuestionAnswering

from ...data.tokenize import IGNORED
from .base import TaskHead, tempered_kl

# Padding's logits are pushed this far down before a softmax over positions, so that padding
# never takes probability (a finite value keeps KL between two masked rows at 0, not NaN).
_MASKED = -1e4


class SpanQA(TaskHead):
    """Start and end logits; labels are each window's (start, end) token positions."""

    name = "span_qa"
    reads_first_token_only = False
    per_token = True
    unlabeled = IGNORED
    output_names = ("start_logits", "end_logits")
    auto_model = AutoModelForQuestionAnswering
    architecture_suffix = "ForQuestionAnswering"

    def __init__(self, n_best: int = 20, max_answer_tokens: int = 30):
        super().__init__(num_labels=2)
        self.n_best = n_best
        self.max_answer_tokens = max_answer_tokens

    def scores(self, outputs) -> torch.Tensor:
        """Start and end logits stacked on a last axis: (batch, tokens, 2)."""
        return torch.stack([torch.as_tensor(outputs.start_logits), torch.as_tensor(outputs.end_logits)], -1).float()

    def loss_from_scores(self, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        losses = self.example_losses(scores, labels)
        labelled = (labels[:, 0] != IGNORED).sum().clamp_min(1)
        return losses.sum() / labelled

    def example_losses(self, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The mean of the start and end cross-entropies (transformers' QA loss), per window."""
        start = F.cross_entropy(scores[..., 0], labels[:, 0], ignore_index=IGNORED, reduction="none")
        end = F.cross_entropy(scores[..., 1], labels[:, 1], ignore_index=IGNORED, reduction="none")
        return (start + end) / 2

    def soft_losses(
        self, scores: torch.Tensor, teacher_scores: torch.Tensor, temperature: float, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """KL between the teacher's and the student's distributions over start positions and over
        end positions (padding excluded), averaged: one value per window."""
        if mask is not None:
            padding = (mask == 0).unsqueeze(-1)
            scores, teacher_scores = scores.masked_fill(padding, _MASKED), teacher_scores.masked_fill(padding, _MASKED)
        per_position = tempered_kl(scores.transpose(1, 2), teacher_scores.transpose(1, 2), temperature)
        return per_position.mean(-1)

    def comparable(self, scores: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Each window's most likely start and end token (padding never wins)."""
        padding = (batch["attention_mask"] == 0).unsqueeze(-1)
        return scores.masked_fill(padding, _MASKED).argmax(1)

    def agreement(self, scores: torch.Tensor, reference: torch.Tensor) -> float:
        """The share of windows whose most likely start and end are the reference's."""
        return 100 * float((scores == reference).all(-1).float().mean())

    def decode(self, scores: list[np.ndarray], features, examples) -> tuple[list[str], list[list[str]]]:
        """The answer text of each question (best span over its windows) and its gold answers."""
        contexts = examples["context"]
        best: list[tuple[float, str]] = [(-np.inf, "") for _ in contexts]
        for window_scores, example, offsets in zip(scores, features["example_index"], features["offset_mapping"]):
            found = self.best_span(window_scores, offsets)
            if found is not None and found[0] > best[example][0]:
                score, first, last = found
                best[example] = (score, contexts[example][first:last])
        golds = [list(answers["text"]) for answers in examples["answers"]]
        return [text for _, text in best], golds

    def best_span(self, window_scores: np.ndarray, offsets: Sequence) -> tuple[float, int, int] | None:
        """(score, first character, end character) of the window's best valid span: start and end
        among the ``n_best`` most likely, both inside the context, end not before start, at most
        ``max_answer_tokens`` tokens; None if no span is valid."""
        starts = np.argsort(window_scores[:, 0])[::-1][: self.n_best]
        ends = np.argsort(window_scores[:, 1])[::-1][: self.n_best]
        best = None
        for start in starts:
            if offsets[start] is None:
                continue
            for end in ends:
                if offsets[end] is None or not 0 <= end - start < self.max_answer_tokens:
                    continue
                score = float(window_scores[start, 0] + window_scores[end, 1])
                if best is None or score > best[0]:
                    best = (score, offsets[start][0], offsets[end][1])
        return best
