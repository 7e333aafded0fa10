"""The one training loop, written once through ``accelerate``: one CPU, one GPU with bf16/fp16
autocast, or several GPUs and machines under ``accelerate launch`` (the launcher's business).

The loop knows nothing of tasks or teachers: it takes a module whose forward returns the loss
(so DistributedDataParallel sees the whole computation), batches of index lists, and a callback
after each epoch (scoring and checkpointing are the caller's). AdamW with linear warm-up and
decay, gradient accumulation and clipping; seeded, so a run repeats.

Every DataLoader batch is the *global* batch, split between the processes
(``split_batches``): N processes compute the same updates as one process, up to float rounding,
except in an epoch's last, partial batch, which accelerate fills up with examples from the
epoch's start when several processes share it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator, DataLoaderConfiguration, DistributedDataParallelKwargs
from datasets import Dataset
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup, set_seed

from ..data.sampling import GROUP, group_rows
from ..errors import BertpressError
from ..memory import varying_shapes


@dataclass(frozen=True)
class Schedule:
    """How long and how fast to train: the optimizer's side of a training step's config."""

    epochs: int
    lr: float
    batch_size: int  # the global batch: examples per optimizer step, over all processes
    gradient_accumulation: int = 1  # micro-batches (of batch_size / this) per optimizer step
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    seed: int = 0
    precision: str = "no"  # "no", "bf16" or "fp16": autocast under accelerate

    def micro_batch(self) -> int:
        return max(1, self.batch_size // self.gradient_accumulation)


@dataclass
class Trainer:
    """What a training run holds between epochs (and what a checkpoint saves)."""

    accelerator: Accelerator
    module: torch.nn.Module  # prepared (wrapped for DDP when several processes run)
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    steps_per_epoch: int

    def save(self, folder: Path) -> None:
        """Optimizer, scheduler, weights and every process's random state; call on every process."""
        # Pickled, not safetensors: safetensors takes a pruned-away block's empty weights for shared ones.
        self.accelerator.save_state(str(folder), safe_serialization=False)

    def load(self, folder: Path) -> None:
        """Restore what ``save`` wrote (``check_saved_state`` vouched for the files beforehand)."""
        self.accelerator.load_state(str(folder))


def check_saved_state(folder: Path) -> None:
    """Refuse a saved training state that torch cannot read, naming the damaged file, before a
    resumed run does any work: accelerate would fail only when the step is reached, without
    saying which file, and it skips unreadable random states without a word."""
    for path in sorted([*folder.glob("*.bin"), *folder.glob("*.pkl")]):
        try:
            torch.load(path, map_location="cpu", weights_only=False)  # our own files: unpickling is safe
        except Exception as error:  # a damaged pickle can raise almost anything
            raise BertpressError(f"cannot resume: {path} is damaged or not a PyTorch file") from error


def make_trainer(module: torch.nn.Module, schedule: Schedule, num_examples: int) -> Trainer:
    """Prepare ``module`` (whose forward returns the loss) for ``num_examples`` per epoch."""
    if schedule.precision not in ("no", "bf16", "fp16"):
        raise BertpressError(f"precision must be 'no', 'bf16' or 'fp16', not '{schedule.precision}'")
    set_seed(schedule.seed)
    accelerator = Accelerator(
        mixed_precision=schedule.precision,
        gradient_accumulation_steps=schedule.gradient_accumulation,
        dataloader_config=DataLoaderConfiguration(split_batches=True),
        # A pruned layer can keep a parameter no forward uses (an emptied block's bias).
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
    )
    steps_per_epoch = math.ceil(math.ceil(num_examples / schedule.micro_batch()) / schedule.gradient_accumulation)
    total = schedule.epochs * steps_per_epoch
    optimizer = torch.optim.AdamW(parameter_groups(module, schedule.weight_decay), lr=schedule.lr)
    scheduler = get_linear_schedule_with_warmup(optimizer, round(schedule.warmup_ratio * total), total)
    module, optimizer, scheduler = accelerator.prepare(module, optimizer, scheduler)
    return Trainer(accelerator, module, optimizer, scheduler, steps_per_epoch)


@varying_shapes()
def train_epoch(
    trainer: Trainer,
    dataset: Dataset,
    collate: Callable[[list[dict]], dict[str, torch.Tensor]],
    schedule: Schedule,
    epoch: int,
    compute_loss: Callable[[torch.nn.Module, dict], tuple[torch.Tensor, dict[str, torch.Tensor]]],
    *,
    progress: bool = True,
    stop: Callable[[], bool] | None = None,
) -> dict[str, float]:
    """One pass over ``dataset``; returns the mean of the loss and of each of its parts.

    ``stop`` is asked after each optimizer step; True ends the epoch there (a step cap, a deadline).
    It must answer the same on every process (``on_any_process`` agrees on a clock reading)."""
    accelerator = trainer.accelerator
    lengths = np.fromiter((len(ids) for ids in dataset["input_ids"]), dtype=np.int64, count=len(dataset))
    groups = np.asarray(dataset[GROUP]) if GROUP in dataset.column_names else None
    batches = LengthGroupedBatches(lengths, schedule.micro_batch(), schedule.seed + epoch, groups)
    loader = accelerator.prepare_data_loader(
        torch.utils.data.DataLoader(dataset, batch_sampler=batches, collate_fn=collate)
    )
    trainer.module.train()
    totals: dict[str, torch.Tensor] = {}
    count = 0
    bar = tqdm(
        total=trainer.steps_per_epoch, desc=f"epoch {epoch}/{schedule.epochs}",
        disable=not (progress and accelerator.is_main_process),
    )
    for batch in loader:
        with accelerator.accumulate(trainer.module), accelerator.autocast():
            loss, parts = compute_loss(trainer.module, batch)
            if not torch.isfinite(loss):
                raise BertpressError(f"the training loss is not finite (NaN or inf) in epoch {epoch}; lower the lr")
            accelerator.backward(loss)
            if accelerator.sync_gradients:
                accelerator.clip_grad_norm_(trainer.module.parameters(), schedule.max_grad_norm)
            trainer.optimizer.step()
            trainer.scheduler.step()
            trainer.optimizer.zero_grad()
        for name, value in {"loss": loss, **parts}.items():
            totals[name] = totals.get(name, 0.0) + value.detach().float()
        count += 1
        if accelerator.sync_gradients:
            bar.update()
            bar.set_postfix(loss=f"{loss.item():.4f}")
            if stop is not None and stop():
                loader.end()  # what finishing the loop does: accelerate forgets the loader, so later accumulation is unaffected
                break
    bar.close()
    means = {name: accelerator.reduce(total / count, reduction="mean") for name, total in totals.items()}
    return {name: round(float(value), 6) for name, value in means.items()}


def on_any_process(accelerator: Accelerator, flag: bool) -> bool:
    """True on every process when ``flag`` is on any: processes whose clocks disagree on a
    deadline must still stop at the same step, or the next all-reduce waits forever."""
    if accelerator.num_processes == 1:
        return flag
    return bool(accelerator.reduce(torch.tensor(float(flag), device=accelerator.device), reduction="sum") > 0)


class LengthGroupedBatches(torch.utils.data.Sampler):
    """Seeded random batches of similar-length examples: little padding, a new order each epoch.

    Examples are shuffled, cut into chunks of 50 batches, each chunk sorted by length, and the
    whole cut into batches, shuffled again: length grouping without a fixed order. Every batch is
    full but the epoch's last (``batch_size`` is what accelerate splits by). ``groups`` (one id per
    example): the examples of a group move as one, sorted by the longest of them, so that they
    share a batch unless a cut between two batches parts them.
    """

    def __init__(self, lengths: np.ndarray, batch_size: int, seed: int, groups: np.ndarray | None = None):
        self.batch_size, self.seed = batch_size, seed
        self.units = group_rows(groups) if groups is not None else [np.array([index]) for index in range(len(lengths))]
        self.longest = np.array([lengths[unit].max() for unit in self.units])
        self.sizes = np.array([len(unit) for unit in self.units])

    def _batches(self) -> list[list[int]]:
        rng = np.random.default_rng(self.seed)
        order = rng.permutation(len(self.units))
        first_rows = np.cumsum(self.sizes[order]) - self.sizes[order]
        chunk_of = first_rows // (50 * self.batch_size)  # a unit's chunk: where its first example falls
        rows = []
        for chunk in np.unique(chunk_of):
            part = order[chunk_of == chunk]
            rows.extend(self.units[unit] for unit in part[np.argsort(self.longest[part], kind="stable")])
        rows = np.concatenate(rows)
        cut = [rows[i : i + self.batch_size].tolist() for i in range(0, len(rows), self.batch_size)]
        full = [batch for batch in cut if len(batch) == self.batch_size]
        rng.shuffle(full)
        return full + [batch for batch in cut if len(batch) < self.batch_size]

    def __iter__(self):
        return iter(self._batches())

    def __len__(self) -> int:
        return math.ceil(self.sizes.sum() / self.batch_size)


def parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Decay weight matrices and embeddings only; biases and LayerNorm scales (vectors) are left alone."""
    parameters = [p for p in model.parameters() if p.requires_grad]
    return [
        {"params": [p for p in parameters if p.ndim >= 2], "weight_decay": weight_decay},
        {"params": [p for p in parameters if p.ndim < 2], "weight_decay": 0.0},
    ]
