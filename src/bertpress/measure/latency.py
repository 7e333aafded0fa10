"""Measured latency: the median of repeated timed forward passes (``torch.utils.benchmark``)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils import benchmark


def time_callable(fn: Callable[[], object], device: str = "cpu", threads: int | None = None, min_run_time: float = 0.5) -> float:
    """Median milliseconds of one call of ``fn`` (warm-up included, CUDA synchronised)."""
    threads = threads or torch.get_num_threads()
    fn()  # warm-up: first-call allocations and kernel selection are not latency
    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=threads)
    return timer.blocked_autorange(min_run_time=min_run_time).median * 1000


def measure_latency(
    model,
    batch_size: int,
    seq_length: int,
    *,
    device: str = "cpu",
    threads: int | None = None,
    min_run_time: float = 1.0,
) -> float:
    """Median milliseconds of one forward pass on random tokens with a full attention mask."""
    vocab_size = model.config.vocab_size
    ids = torch.randint(0, vocab_size, (batch_size, seq_length), generator=torch.Generator().manual_seed(0))
    inputs = {"input_ids": ids.to(device), "attention_mask": torch.ones_like(ids).to(device)}

    def forward():
        with torch.inference_mode():
            return model(**inputs)

    return time_callable(forward, device, threads, min_run_time)
