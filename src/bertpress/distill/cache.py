"""The teacher's scores of each training example, kept after the first time they are computed.

The teacher is frozen and in eval mode, so its output on an example never changes: a later epoch,
or a later stage of a gradual recipe on the same text, can read it back instead of running the
teacher again. On a CPU the teacher's forward pass is most of a distillation step once the
student is small (a dense base-size teacher against a student at 0.1 of its MACs: about three
quarters), so every epoch after the first costs about a quarter as much.

Only per-example scores are kept (a class's logits, a regression's value, a sentence embedding):
per-token scores (question answering, tagging) depend on each example's length and would cost
far more memory than the text. The memory is one row of scores per example (768 floats for a
base-size embedder), the same order as the tokenized text itself.
"""

from __future__ import annotations

import torch


class TeacherScores:
    """Scores by example number (the row of the training set); filled as batches are first seen."""

    def __init__(self, num_examples: int):
        self.num_examples = num_examples
        self.scores: torch.Tensor | None = None  # allocated at the first batch, when the shape is known
        self.known = torch.zeros(num_examples, dtype=torch.bool)

    def lookup(self, examples: torch.Tensor) -> torch.Tensor | None:
        """The scores of ``examples``, or None unless every one of them is known."""
        examples = examples.cpu()
        if self.scores is None or not bool(self.known[examples].all()):
            return None
        return self.scores[examples]

    def store(self, examples: torch.Tensor, scores: torch.Tensor) -> None:
        scores = scores.detach().float().cpu()
        if self.scores is None:
            self.scores = torch.empty((self.num_examples, *scores.shape[1:]), dtype=torch.float32)
        examples = examples.cpu()
        self.scores[examples] = scores
        self.known[examples] = True
