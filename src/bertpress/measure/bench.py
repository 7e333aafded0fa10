"""What ``bench`` reports: latency, throughput, parameters, MACs and size of one model, or of
several backends side by side (``steps.backends.bench`` makes the backends)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from ..formatting import format_table
from ..reports import Report
from ..runtime.backends import backend_of
from .latency import LatencySetting, compare_latency
from .machine import Machine

DENSE = "dense"  # the label of the dense model's rows
REFERENCE_BACKEND = backend_of("torch", None).name  # speedups are against the dense model run by it


@dataclass(frozen=True)
class BenchRow:
    batch_size: int
    latency_ms: float  # the median of rounds, the models of one batch size timed in turn
    throughput: float  # sequences per second
    backend: str | None = None  # set when backends are compared
    size_mb: float | None = None  # that backend's weights as they run
    spread_ms: float | None = None  # the range of the per-round medians
    model: str | None = None  # with a dense model: "model" (the one benched) or "dense"
    speedup: float | None = None  # against the dense model in fp32 PyTorch, same batch and run
    speedup_vs_fastest_dense: float | None = None  # against the dense model on its fastest backend


@dataclass(frozen=True)
class Subject:
    """A model to time, and how its row is labelled."""

    model: Any
    backend: str | None = None
    size_mb: float | None = None
    label: str | None = None  # "model" or "dense" when a dense model is timed beside


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
    machine: Machine | None = None  # where it ran (None in older reports)
    dense_model: str | None = None  # the dense model timed beside (named by the folder's report.json)

    def render(self) -> str:
        summary = (
            f"{self.params:,} parameters, {self.macs:,} MACs per sequence, {self.size_mb:.1f} MB; "
            f"{self.seq_length} tokens per sequence on {self.device} with {self.threads} thread(s)"
        )
        machine = f"\nMachine: {self.machine.describe()}" if self.machine else ""
        columns = [key for key in _COLUMNS if any(getattr(row, key) is not None for row in self.results)]
        rows = [[_cell(getattr(row, key)) for key in columns] for row in self.results]
        dense = "" if self.dense_model is None else (
            f"\n\nDense: {self.dense_model}, timed in turn with the model. Speedups against the dense model in fp32 "
            "PyTorch and against the dense model on its fastest backend, at the same batch size.")
        return f"{summary}{machine}\n\n{format_table([_COLUMNS[key] for key in columns], rows)}{dense}"


_COLUMNS = {
    "model": "model",
    "backend": "backend",
    "batch_size": "batch",
    "latency_ms": "latency (ms)",
    "spread_ms": "± (ms)",
    "throughput": "sequences/s",
    "size_mb": "size (MB)",
    "speedup": "vs dense fp32",
    "speedup_vs_fastest_dense": "vs fastest dense",
}


def _cell(value):
    return "" if value is None else value


def bench_rows(subjects: list[Subject], batch_sizes: Sequence[int], setting: LatencySetting) -> list[BenchRow]:
    """One row per subject and batch size, the subjects of each batch size timed in turn
    (``compare_latency``) at ``setting``'s sequence length, device and threads; with dense
    subjects, each row's speedups against them."""
    rows = []
    for batch_size in batch_sizes:
        timings = compare_latency({str(i): s.model for i, s in enumerate(subjects)}, replace(setting, batch_size=batch_size))
        batch_rows = [
            BenchRow(batch_size, round(t.median_ms, 3), round(batch_size * 1e3 / t.median_ms, 2), s.backend, s.size_mb,
                     round(t.spread_ms, 3), s.label)
            for s, t in zip(subjects, (timings[str(i)] for i in range(len(subjects))))
        ]
        rows += _with_speedups(batch_rows)
    return rows


def _with_speedups(rows: list[BenchRow]) -> list[BenchRow]:
    """Rows of one batch size, with speedups against the dense rows among them (if any)."""
    dense = [row for row in rows if row.model == DENSE]
    reference = next((row.latency_ms for row in dense if row.backend == REFERENCE_BACKEND), None)
    if reference is None:
        return rows
    fastest = min(row.latency_ms for row in dense)
    return [replace(row, speedup=round(reference / row.latency_ms, 2),
                    speedup_vs_fastest_dense=round(fastest / row.latency_ms, 2)) for row in rows]
