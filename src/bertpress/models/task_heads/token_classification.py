"""Token classification (named entities): a label per word, read at the word's first sub-token.

Labels and predictions live on each word's first sub-token; the other sub-tokens, special tokens
and padding carry ``IGNORED``. Label names come from the model's ``id2label``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from transformers import AutoModelForTokenClassification, PretrainedConfig

from ...errors import BertpressError
from ..positions import usable_positions
from ...data.tokenize import IGNORED, is_first_subtoken
from .base import TaskHead, model_label_names, tempered_kl

OUTSIDE = "O"  # the tag of a token outside every entity


class TokenClassification(TaskHead):
    """Per-token logits over ``label_names``."""

    name = "token_classification"
    reads_first_token_only = False
    per_token = True
    unlabeled = IGNORED
    auto_model = AutoModelForTokenClassification
    architecture_suffix = "ForTokenClassification"

    def __init__(self, label_names: Sequence[str]):
        super().__init__(num_labels=len(label_names))
        self.label_names = tuple(label_names)

    def check(self, config: PretrainedConfig, task_name: str = "") -> None:
        """Also refuse a model whose labels are not the task's (another tag set)."""
        super().check(config, task_name)
        names = model_label_names(config)
        if names and set(names) != set(self.label_names):
            raise BertpressError(
                f"the model's labels ({', '.join(names)}) are not task '{task_name}''s ({', '.join(self.label_names)})"
            )

    def loss_from_scores(self, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(scores.reshape(-1, self.num_labels), labels.reshape(-1), ignore_index=IGNORED)

    def example_losses(self, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Each sentence's mean cross-entropy over its words (0 for a sentence without labels)."""
        per_token = F.cross_entropy(scores.transpose(1, 2), labels, ignore_index=IGNORED, reduction="none")
        words = (labels != IGNORED).sum(1)
        return per_token.sum(1) / words.clamp_min(1)

    def soft_losses(
        self, scores: torch.Tensor, teacher_scores: torch.Tensor, temperature: float, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """KL between the teacher's and the student's label distributions, per token, averaged over
        each sentence's real tokens (all of them: sub-tokens carry the teacher's knowledge too)."""
        per_token = tempered_kl(scores, teacher_scores, temperature)
        mask = torch.ones_like(per_token) if mask is None else mask.to(per_token.dtype)
        return (per_token * mask).sum(1) / mask.sum(1).clamp_min(1)

    def comparable(self, scores: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The predicted label of every real token, padding dropped."""
        return scores.argmax(-1)[batch["attention_mask"].bool()]

    def agreement(self, scores: torch.Tensor, reference: torch.Tensor) -> float:
        """Of the tokens either model puts in an entity, the share given the reference's label
        (token accuracy would be near 100 for any model: most tokens are outside every entity)."""
        outside = self.label_names.index(OUTSIDE) if OUTSIDE in self.label_names else -1
        either = (scores != outside) | (reference != outside)
        if not either.any():
            return 100.0
        return 100 * float((scores[either] == reference[either]).float().mean())

    def decode(self, scores: list[np.ndarray], features, examples) -> tuple[list[list[str]], list[list[str]]]:
        """Each sentence's predicted tags (a word's label is its first sub-token's) and its gold tags."""
        predictions = []
        for token_scores, word_ids, tags in zip(scores, features["word_ids"], examples["tags"]):
            words = ["O"] * len(tags)
            labels = token_scores.argmax(-1)
            for position, word in enumerate(word_ids):
                if is_first_subtoken(word_ids, position):
                    words[word] = self.label_names[labels[position]]
            predictions.append(words)
        return predictions, [list(tags) for tags in examples["tags"]]

    def eval_length(self, max_length: int, config: PretrainedConfig) -> int:
        """Every word is scored: a sentence is encoded whole, up to what the model takes."""
        return usable_positions(config) or max_length

