"""What ``bench`` reports: latency, throughput, parameters, MACs and size of one model, or of
several backends side by side (``steps.backends.bench`` makes the backends)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from ..formatting import format_table
from ..reports import Report
from .latency import LatencySetting, measure_latency


@dataclass(frozen=True)
class BenchRow:
    batch_size: int
    latency_ms: float
    throughput: float  # sequences per second
    backend: str | None = None  # set when backends are compared
    size_mb: float | None = None  # that backend's weights as they run


@dataclass
class BenchReport(Report):
    kind: ClassVar[str] = "bench"

    params: int
    macs: int
    seq_length: int
    device: str
    threads: int
    size_mb: float
    results: list[BenchRow]

    def render(self) -> str:
        summary = (
            f"{self.params:,} parameters, {self.macs:,} MACs per sequence, {self.size_mb:.1f} MB; "
            f"{self.seq_length} tokens per sequence on {self.device} with {self.threads} thread(s)"
        )
        columns = [key for key in _COLUMNS if getattr(self.results[0], key) is not None]
        rows = [[getattr(row, key) for key in columns] for row in self.results]
        return f"{summary}\n\n{format_table([_COLUMNS[key] for key in columns], rows)}"


_COLUMNS = {
    "backend": "backend",
    "batch_size": "batch",
    "latency_ms": "latency (ms)",
    "throughput": "sequences/s",
    "size_mb": "size (MB)",
}


def bench_rows(model, batch_sizes: Sequence[int], setting: LatencySetting) -> list[BenchRow]:
    """One row per batch size: ``model``'s latency at ``setting``'s sequence length, device and threads."""
    return [_time(model, batch_size, setting) for batch_size in batch_sizes]


def _time(model, batch_size: int, setting: LatencySetting) -> BenchRow:
    latency_ms = measure_latency(
        model, batch_size, setting.seq_length, device=setting.device, threads=setting.threads,
        min_run_time=setting.min_run_time,
    )
    return BenchRow(batch_size, round(latency_ms, 3), round(batch_size * 1e3 / latency_ms, 2))
