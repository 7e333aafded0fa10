"""Calibration data: a seeded sample of a task's training examples, tokenized and batched."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from ..errors import BertpressError
from .sampling import sample
from .sources import DataSource, load_split
from .tasks import Task
from .tokenize import batches, encode


@dataclass(frozen=True)
class Calibration:
    """Which training examples calibrate the statistics, and how they are batched."""

    num_samples: int = 2048
    seed: int = 0
    batch_size: int = 32
    max_length: int | None = None  # None: the task's own (a SQuAD window: 384)

    def __post_init__(self):
        if self.num_samples < self.batch_size:
            raise BertpressError(f"--num-samples ({self.num_samples}) must be at least one batch ({self.batch_size})")

    def for_task(self, task: Task) -> Calibration:
        """This calibration with the task's own length where none was given."""
        return replace(self, max_length=self.max_length or task.max_length)


def calibration_batches(
    task: Task, tokenizer, data: DataSource, calibration: Calibration, label_names: Sequence[str] = ()
) -> list[dict]:
    """``calibration.num_samples`` seeded training examples in length-sorted, padded batches
    (``label_names``: a token classifier's tags in its index order). A question whose context
    needs several windows brings all of them."""
    examples = sample(load_split(task, "train", data), calibration.num_samples, calibration.seed)
    if len(examples) < calibration.batch_size:
        raise BertpressError(f"only {len(examples)} training examples, fewer than one batch of {calibration.batch_size}")
    encoded = encode(examples, tokenizer, calibration.max_length, stride=data.doc_stride, label_names=label_names)
    return batches(encoded, tokenizer, calibration.batch_size, sort_by_length=True)


def held_out_batches(
    task: Task, tokenizer, data: DataSource, calibration: Calibration, count: int, label_names: Sequence[str] = ()
) -> list[dict]:
    """Up to ``count`` training examples outside the calibration sample, batched like it (none when
    the split has no more examples than the sample): text to judge compressed models on."""
    train = load_split(task, "train", data)
    if len(train) <= calibration.num_samples:
        return []
    # The same shuffle as ``sample`` draws the calibration examples from: what follows them is unseen.
    shuffled = train.shuffle(seed=calibration.seed, keep_in_memory=True)
    rest = shuffled.select(range(calibration.num_samples, min(len(train), calibration.num_samples + count)))
    encoded = encode(rest, tokenizer, calibration.max_length, stride=data.doc_stride, label_names=label_names)
    return batches(encoded, tokenizer, calibration.batch_size, sort_by_length=True)
