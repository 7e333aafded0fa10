"""Latency of one forward pass, timed by ``torch.utils.benchmark`` for PyTorch and ONNX models alike.

A model here is anything with ``model(**inputs).logits``, ``model.config``, ``model.device`` and
``model.to(device)``: a transformers model, or a ``runtime.exported.ExportedModel``.

A comparison (dense against compressed, one backend against another) times its models in turn,
round after round (``compare_latency``): a speedup is then a ratio of timings that met the same
load. Each timing runs with no other runtime's threads busy: the process runs one model at a time,
and ONNX Runtime sessions do not spin between runs (``runtime.onnx``).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch.utils import benchmark

from ..errors import BertpressError, first_line

# Rounds of a comparison: enough for a median and a range that one busy moment does not move.
ROUNDS = 5
# Seconds a block of calls lasts (at least one call): the clock's own cost is negligible against
# it, and a round holds several blocks.
BLOCK_S = 0.01


@dataclass(frozen=True)
class LatencySetting:
    """Where latency is measured: a speedup is dense / compressed latency timed in one process."""

    batch_size: int = 32
    seq_length: int | None = None  # None: the examples' length (a SQuAD window: 384), see ``at_length``
    device: str = "cpu"
    threads: int | None = None
    min_run_time: float = 1.0  # seconds of timing per measurement (tests use less)

    def at_length(self, length: int) -> LatencySetting:
        """This setting, timed at ``length`` tokens (the task's or ``--max-length``) where none was given."""
        return self if self.seq_length else replace(self, seq_length=length)


def check_device(device: str) -> None:
    if torch.device(device).type == "cuda" and not torch.cuda.is_available():
        raise BertpressError(f"device '{device}' requested, but torch {torch.__version__} sees no CUDA GPU")


def sample_inputs(config, batch_size: int, seq_length: int, *, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random token ids from the whole vocabulary and a full attention mask (cost does not depend on ids)."""
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(config.vocab_size, (batch_size, seq_length), generator=generator)
    return {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}


def timing_threads(setting: LatencySetting) -> int:
    """The intra-op threads every runtime gets while timed: the setting's, or torch's current count."""
    return setting.threads or torch.get_num_threads()


@dataclass(frozen=True)
class Timing:
    """A model's latency over several rounds: the median of the per-round medians, and their range."""

    median_ms: float
    spread_ms: float  # largest minus smallest per-round median: how much the timing moved while measured
    rounds: int

    @classmethod
    def of(cls, round_medians: list[float]) -> Timing:
        return cls(statistics.median(round_medians), max(round_medians) - min(round_medians), len(round_medians))


# A round's timer: given the seconds to spend, the median milliseconds of one call.
RoundTimer = Callable[[float], float]


def compare_latency(models: dict[str, Any], setting: LatencySetting, rounds: int = ROUNDS) -> dict[str, Timing]:
    """Each model's latency at ``setting`` (a forward pass over a batch of random tokens), the
    models timed in turn for ``rounds`` rounds of ``setting.min_run_time / rounds`` seconds each.

    Interleaving makes a comparison fair on a machine whose load drifts: every model meets the same
    busy and quiet moments, and the spread says how much they moved. Runs under
    ``torch.inference_mode`` with ``timing_threads(setting)`` intra-op threads in every runtime;
    each model is moved to ``setting.device`` for the measurement and back afterwards.
    """
    check_device(setting.device)
    with ExitStack() as stack:
        stack.enter_context(_torch_threads(timing_threads(setting)))
        timers = {name: stack.enter_context(round_timer(model, setting)) for name, model in models.items()}
        return interleave(timers, setting.min_run_time / rounds, rounds)


def interleave(timers: dict[str, RoundTimer], seconds: float, rounds: int) -> dict[str, Timing]:
    """Every timer for ``seconds`` per round, in turn, ``rounds`` times. The direction alternates
    so that no timer always runs right after the same other one (whose threads may still be winding down)."""
    medians: dict[str, list[float]] = {name: [] for name in timers}
    for number in range(rounds):
        for name in list(timers) if number % 2 == 0 else reversed(list(timers)):
            medians[name].append(timers[name](seconds))
    return {name: Timing.of(values) for name, values in medians.items()}


def measure_latency(
    model,
    batch_size: int,
    seq_length: int,
    *,
    device: str = "cpu",
    threads: int | None = None,
    min_run_time: float = 1.0,
) -> float:
    """Median milliseconds of one forward pass over a ``batch_size`` × ``seq_length`` batch
    (``compare_latency`` of the model alone)."""
    setting = LatencySetting(batch_size, seq_length, device, threads, min_run_time)
    return compare_latency({"model": model}, setting)["model"].median_ms


@contextmanager
def round_timer(model, setting: LatencySetting) -> Iterator[RoundTimer]:
    """A round timer of ``model``'s forward pass at ``setting`` (torch's thread count is the
    caller's to set), warmed up, with the model on the setting's device while it is open."""
    batch = sample_inputs(model.config, setting.batch_size, setting.seq_length)
    inputs = {name: tensor.to(setting.device) for name, tensor in batch.items()}

    @torch.inference_mode()
    def forward():
        return model(**inputs)

    with _on_device(model, setting.device):
        _use_threads(model, timing_threads(setting))
        try:
            # Warm-up: first-call allocations and kernel selection are not latency. Its time
            # (an overestimate) sizes the blocks.
            warm_up_s = _block_s(forward, 1, setting.device)
        except (IndexError, RuntimeError) as error:  # e.g. more tokens than the model has positions
            raise BertpressError(
                f"the model cannot run {setting.batch_size} sequence(s) of {setting.seq_length} tokens: {first_line(error)}"
            ) from error
        calls = max(1, round(BLOCK_S / warm_up_s))
        yield lambda seconds: _round_ms(forward, calls, seconds, setting.device)


def _round_ms(forward: Callable[[], object], calls: int, seconds: float, device: str) -> float:
    """The median milliseconds of one call over blocks of ``calls`` calls, for ``seconds`` (at least one block)."""
    blocks = []
    started = time.perf_counter()
    while not blocks or time.perf_counter() - started < seconds:
        blocks.append(_block_s(forward, calls, device) * 1000)
    return statistics.median(blocks)


def _block_s(forward: Callable[[], object], calls: int, device: str) -> float:
    """Seconds per call over ``calls`` calls in a row (CUDA synchronised at both ends)."""
    _synchronize(device)
    started = time.perf_counter()
    for _ in range(calls):
        forward()
    _synchronize(device)
    return (time.perf_counter() - started) / calls


def _synchronize(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


@contextmanager
def _torch_threads(threads: int) -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


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
    # Torch's thread count is set around a whole comparison; ONNX Runtime and OpenVINO fix their
    # own thread pools when a session starts, so an exported model starts a new one with this count.
    set_num_threads = getattr(model, "set_num_threads", None)
    if set_num_threads is not None:
        set_num_threads(threads)

