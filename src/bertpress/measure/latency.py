"""Latency of one forward pass, timed by ``torch.utils.benchmark`` for PyTorch and ONNX models alike.

A model here is anything with ``model(**inputs).logits``, ``model.config``, ``model.device`` and
``model.to(device)``: a transformers classifier, or ``export.onnx_model.OnnxClassifier``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch.utils import benchmark

from ..errors import BertpressError, first_line


@dataclass(frozen=True)
class LatencySetting:
    """Where latency is measured: a speedup is dense / compressed latency timed in one process."""

    batch_size: int = 32
    seq_length: int = 128
    device: str = "cpu"
    threads: int | None = None
    min_run_time: float = 1.0  # seconds of timing per measurement (tests use less)


def check_device(device: str) -> None:
    if torch.device(device).type == "cuda" and not torch.cuda.is_available():
        raise BertpressError(f"device '{device}' requested, but torch {torch.__version__} sees no CUDA GPU")


def sample_inputs(config, batch_size: int, seq_length: int, *, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random token ids from the whole vocabulary and a full attention mask (cost does not depend on ids)."""
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(config.vocab_size, (batch_size, seq_length), generator=generator)
    return {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}


def measure_latency(
    model,
    batch_size: int,
    seq_length: int,
    *,
    device: str = "cpu",
    threads: int | None = None,
    min_run_time: float = 1.0,
) -> float:
    """Median milliseconds of one forward pass over a ``batch_size`` × ``seq_length`` batch.

    Runs under ``torch.inference_mode`` with ``threads`` intra-op threads (default: torch's
    current count). The model is moved to ``device`` for the measurement and back afterwards.
    """
    check_device(device)
    threads = threads or torch.get_num_threads()
    inputs = {name: tensor.to(device) for name, tensor in sample_inputs(model.config, batch_size, seq_length).items()}

    @torch.inference_mode()
    def forward():
        return model(**inputs)

    with _on_device(model, device):
        _use_threads(model, threads)
        try:
            return time_callable(forward, device, threads, min_run_time)
        except (IndexError, RuntimeError) as error:  # e.g. more tokens than the model has positions
            raise BertpressError(
                f"the model cannot run {batch_size} sequence(s) of {seq_length} tokens: {first_line(error)}"
            ) from error


def time_callable(
    fn: Callable[[], object], device: str = "cpu", threads: int | None = None, min_run_time: float = 0.5
) -> float:
    """Median milliseconds of one call of ``fn`` (warm-up included; the Timer synchronises CUDA)."""
    check_device(device)
    threads = threads or torch.get_num_threads()
    fn()  # warm-up: first-call allocations and kernel selection are not latency
    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=threads)
    return timer.blocked_autorange(min_run_time=min_run_time).median * 1000


@contextmanager
def _on_device(model, device: str) -> Iterator[None]:
    original = model.device
    model.to(device)
    try:
        yield
    finally:
        model.to(original)


def _use_threads(model, threads: int) -> None:
    # The benchmark Timer sets torch's thread count; ONNX Runtime fixes its own thread pool when
    # a session starts, so an ONNX model starts a new session with this count.
    set_num_threads = getattr(model, "set_num_threads", None)
    if set_num_threads is not None:
        set_num_threads(threads)

