"""What a search found: every candidate tried, the Pareto front of dev metric against measured
latency, and the chosen model; as JSON, a table a person reads in a minute, and a plot."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from ..formatting import format_table
from ..measure.machine import Machine
from ..reports import Report


@dataclass
class CandidateResult:
    """One structure on one backend, and how far the search took it."""

    label: str  # the structure, readable
    backend: str
    structure: dict
    recipe: dict | None  # the steps that make it (None: the dense model as it is)
    macs_ratio: float
    params: int
    # The price at the target batch before it was timed (optimize.policy.price: the measured model of
    # the nearest shape on the same backend, scaled by the latency table)
    predicted_ms: float
    agreement: float | None = None  # the proxy: points of agreement with the dense model, held-out text
    metric: float | None = None  # dev metric in points (None: screened out)
    # Measured at the target batch, on the run's clock: its ratio to the dense model on the same
    # backend (timed in turn) times that dense model's timing at the start of the run
    latency_ms: float | None = None
    latency_b1_ms: float | None = None  # the same at batch 1
    size_mb: float | None = None
    note: str = ""  # why it stopped where it did
    seconds: float = 0.0  # what making and judging it took
    latency_spread_ms: float | None = None  # the range of latency_ms's per-round medians


@dataclass
class OptimizeReport(Report):
    kind: ClassVar[str] = "optimize"

    task: str
    model: str
    metric_name: str
    target: dict
    target_ms: float
    floor: dict
    floor_metric: float
    dense_metric: float
    dense_ms: float  # dense fp32 PyTorch at the target batch
    dense_b1_ms: float
    batch_size: int
    seq_length: int
    time_budget_s: float
    seconds: float
    candidates: list[CandidateResult]
    front: list[int] = field(default_factory=list)  # indices into candidates
    chosen: int | None = None
    timings_s: dict = field(default_factory=dict)
    output: str = ""
    machine: Machine | None = None  # where the timings ran (None in older reports)
    dense: list[int] = field(default_factory=list)  # indices of the dense model's candidates, one per backend

    @property
    def fastest_dense_ms(self) -> float | None:
        """The dense model on its fastest backend, at the target batch (timed in this run)."""
        return min((self.candidates[i].latency_ms for i in self.dense if self.candidates[i].latency_ms is not None), default=None)

    def render(self) -> str:
        lines = [
            f"{self.model} on {self.task}: target {self.target_ms:.1f} ms at batch {self.batch_size} x "
            f"{self.seq_length} (dense fp32 PyTorch {self.dense_ms:.1f} ms, {self.dense_b1_ms:.2f} ms at batch 1), "
            f"floor {self.metric_name} >= {self.floor_metric:.2f} (dense {self.dense_metric:.2f}); "
            f"{len(self.candidates)} candidates in {self.seconds / 60:.1f} of {self.time_budget_s / 60:.0f} min.",
            *([f"Machine: {self.machine.describe()}"] if self.machine else []),
            "",
            format_table(_headers(self.batch_size), [self._row(i) for i in self._order()]),
            "",
            "* chosen, ^ on the front (no other candidate is both faster and better). Latency: median of rounds "
            "timed in turn with the dense model on the same backend, ± the range of the rounds. Speedups against "
            "dense fp32 PyTorch and against the dense model on its fastest backend, all timed in this run.",
        ]
        if self.chosen is None:
            lines.append("No candidate met both the target and the floor.")
        else:
            best = self.candidates[self.chosen]
            lines.append(f"Chosen: {best.label} on {best.backend}: {self.metric_name} {best.metric:.2f}, "
                         f"{self.dense_ms / best.latency_ms:.2f}x at batch {self.batch_size}.")
        return "\n".join(lines)

    def _order(self) -> list[int]:
        """Judged candidates first, fastest first; then the ones screened out."""
        indices = range(len(self.candidates))
        judged = sorted((i for i in indices if self.candidates[i].latency_ms is not None), key=lambda i: self.candidates[i].latency_ms)
        return judged + [i for i in indices if self.candidates[i].latency_ms is None]

    def _row(self, index: int) -> list:
        c = self.candidates[index]
        mark = ("*" if index == self.chosen else "") + ("^" if index in self.front else "")
        measured = c.latency_ms is not None
        spread = f" ±{c.latency_spread_ms:.1f}" if c.latency_spread_ms is not None else ""
        fastest = self.fastest_dense_ms
        return [
            mark, c.label, c.backend, f"{c.macs_ratio:.2f}", _points(c.agreement), _points(c.metric),
            "" if c.metric is None else f"{c.metric - self.dense_metric:+.2f}",
            f"{c.latency_b1_ms:.2f}" if measured else "", f"{c.latency_ms:.1f}{spread}" if measured else f"~{c.predicted_ms:.0f}",
            f"{self.dense_b1_ms / c.latency_b1_ms:.2f}x" if measured else "",
            f"{self.dense_ms / c.latency_ms:.2f}x" if measured else "",
            f"{fastest / c.latency_ms:.2f}x" if measured and fastest else "",
            "" if c.size_mb is None else f"{c.size_mb:.1f}", c.note,
        ]

    def plot(self, path: Path) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, axis = plt.subplots(figsize=(7, 4.5))
        markers = dict(zip(sorted({c.backend for c in self.candidates}), "osD^vP*"))
        for backend, marker in markers.items():
            points = [(c.latency_ms, c.metric) for c in self.candidates if c.backend == backend and c.latency_ms and c.metric is not None]
            if points:
                axis.scatter(*zip(*points), marker=marker, label=backend, alpha=0.8)
        front = sorted((self.candidates[i].latency_ms, self.candidates[i].metric) for i in self.front)
        if front:
            axis.plot(*zip(*front), color="grey", linewidth=0.8, linestyle=":", label="front")
        if self.chosen is not None:
            best = self.candidates[self.chosen]
            axis.scatter([best.latency_ms], [best.metric], s=260, facecolors="none", edgecolors="red", linewidths=1.5, label="chosen")
        axis.axvline(self.target_ms, color="red", linewidth=0.7, linestyle="--", label="target")
        axis.axhline(self.floor_metric, color="black", linewidth=0.7, linestyle="--", label="floor")
        axis.set_xscale("log")
        axis.set_xlabel(f"measured latency (ms), batch {self.batch_size} x {self.seq_length}")
        axis.set_ylabel(f"dev {self.metric_name}")
        axis.set_title(f"{self.task}: {self.model}")
        axis.legend(fontsize=7)
        figure.tight_layout()
        figure.savefig(path, dpi=120)
        plt.close(figure)


def _headers(batch_size: int) -> list[str]:
    return ["", "model", "backend", "MACs", "agreement", "dev", "change", "ms b1", f"ms b{batch_size}", "speedup b1",
            f"speedup b{batch_size}", f"vs fastest dense b{batch_size}", "MB", "note"]


def _points(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def pareto_front(candidates: list[CandidateResult]) -> list[int]:
    """Indices of the judged candidates that no other judged one beats on both latency and metric."""
    judged = [i for i, c in enumerate(candidates) if c.metric is not None and c.latency_ms is not None]

    def beaten(i: int) -> bool:
        a = candidates[i]
        return any(
            (b.latency_ms <= a.latency_ms and b.metric >= a.metric) and (b.latency_ms < a.latency_ms or b.metric > a.metric)
            for b in (candidates[j] for j in judged if j != i)
        )

    return [i for i in judged if not beaten(i)]
