"""Fine-tuning's settings, apart from the training code: the command line shows their defaults in
``--help`` without importing torch."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ..errors import BertpressError


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 3
    lr: float = 5e-5
    batch_size: int = 32
    max_length: int | None = None  # None: the task's own (a SQuAD window: 384)
    seed: int = 0
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    max_grad_norm: float = 1.0  # the transformers Trainer's default clipping

    def __post_init__(self) -> None:
        """Refuse a setting torch would only trip over mid-run (a negative lr fails deep in AdamW)."""
        counts = {"--epochs": self.epochs, "--batch-size": self.batch_size}
        if self.max_length is not None:  # None: the task's own
            counts["--max-length"] = self.max_length
        for flag, value in counts.items():
            if not isinstance(value, int) or value < 1:
                raise BertpressError(f"{flag} must be a whole number of at least 1, not {value!r}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise BertpressError(f"--lr must be a positive number, not {self.lr!r}")
        if not 0 <= self.warmup_ratio < 1:  # NaN fails every comparison, so it is refused too
            raise BertpressError(f"warmup_ratio must be at least 0 and below 1, not {self.warmup_ratio!r}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise BertpressError(f"weight_decay must be a non-negative number, not {self.weight_decay!r}")
        if not self.max_grad_norm > 0:  # inf is allowed: it means no clipping
            raise BertpressError(f"max_grad_norm must be a positive number, not {self.max_grad_norm!r}")

    def for_task(self, task) -> TrainConfig:
        """This config with the task's own length where none was given."""
        return replace(self, max_length=self.max_length or task.max_length)
