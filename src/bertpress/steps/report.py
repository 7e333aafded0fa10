"""What a compression reports: the dense and final models side by side, and every step's numbers.

``report.json`` keeps the keys of a prune report for the final model (``baseline``, ``pruned``,
``macs_ratio``, ``params_ratio``, ``speedup``, ...) and adds ``steps``: each step's name, config,
seconds, and the dev metrics / MACs / parameters after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from ..data.calibration import Calibration
from ..formatting import format_table
from ..measure.cost import Budget
from ..measure.latency import LatencySetting
from ..reports import Report, to_plain


@dataclass(frozen=True)
class Measurement:
    metrics: dict[str, float]
    macs: int
    params: int
    latency_ms: float | None  # the median of rounds (measure.latency.compare_latency); None until timed
    latency_spread_ms: float | None = None  # the range of the per-round medians (None in older reports)


@dataclass(frozen=True)
class StepRecord:
    name: str
    config: dict
    seconds: float
    metrics: dict[str, float]  # dev metrics after the step
    macs: int
    params: int
    details: dict = field(default_factory=dict)  # what the step chose (layers dropped, budget limit, ...)


@dataclass
class CompressReport(Report):
    kind: ClassVar[str] = "compress"
    version: ClassVar[int] = 3  # 3: metrics in points (versions 1 and 2 had task metrics as fractions)
    derived: ClassVar[tuple[str, ...]] = (
        "macs_ratio", "params_ratio", "latency_ratio", "speedup", "config", "training",
    )

    task: str
    model: str
    recipe: dict
    calibration: Calibration
    budget: Budget | None  # the last prune step's budget, if any
    baseline: Measurement
    pruned: Measurement  # the final model (the name is kept from prune reports)
    backend: str  # how the final model runs: a backend name of runtime.backends
    heads_per_layer: list[int]
    neurons_per_layer: list[int]
    dropped_layers: list[int]  # dropped by this recipe, as indices of the original (undropped) model
    timings_s: dict[str, float]
    macs_seq_length: float  # mean calibration length: MACs are counted at it
    latency: LatencySetting
    steps: list[StepRecord]
    calibration_source: str | None = None  # what the calibration sample was drawn from (None in older reports)

    @property
    def macs_ratio(self) -> float:
        return self.pruned.macs / self.baseline.macs

    @property
    def params_ratio(self) -> float:
        return self.pruned.params / self.baseline.params

    @property
    def speedup(self) -> float:
        return self.baseline.latency_ms / self.pruned.latency_ms

    @property
    def latency_ratio(self) -> float:
        return self.pruned.latency_ms / self.baseline.latency_ms

    @property
    def config(self) -> dict:
        """The calibration and the last prune step's settings (a prune report's ``config``)."""
        prune = [s.config for s in self.steps if s.name == "prune"]
        return {**to_plain(self.calibration), **(prune[-1] if prune else {})}

    @property
    def training(self) -> list[dict]:
        """The training curve: per epoch of every training step, its losses and dev metrics."""
        return [
            {"step": number, **epoch}
            for number, step in enumerate(self.steps, 1)
            for epoch in step.details.get("curve", [])
        ]

    def render(self) -> str:
        metric_names = list(self.baseline.metrics)
        rows = [
            [name, *(m.metrics[key] for key in metric_names), m.macs, m.params, m.latency_ms]
            for name, m in (("dense", self.baseline), (f"final ({self.backend})", self.pruned))
        ]
        latency = f"latency_ms (b{self.latency.batch_size}, s{self.latency.seq_length})"
        steps = [[s.name, s.seconds, *(s.metrics[key] for key in metric_names), s.macs, s.params] for s in self.steps]
        lines = [
            format_table(["model", *metric_names, "MACs", "params", latency], rows),
            "",
            format_table(["step", "seconds", *metric_names, "MACs", "params"], steps),
            "",
            f"budget {to_plain(self.budget)}" if self.budget else "no budget",
            f"MACs ratio {self.macs_ratio:.3f}  params ratio {self.params_ratio:.3f}"
            f"  latency ratio {self.latency_ratio:.3f}  speedup {self.speedup:.2f}x",
            f"heads per layer   {self.heads_per_layer}",
            f"neurons per layer {self.neurons_per_layer}",
        ]
        if self.dropped_layers:
            lines.append(f"dropped layers    {self.dropped_layers}")
        if self.calibration_source:
            lines.append(f"calibrated on     {self.calibration_source}")
        if self.training:
            names = list(self.training[-1])
            curve = [[epoch.get(name, "") for name in names] for epoch in self.training]
            lines += ["", "training", format_table(names, curve), ""]
        lines.append("time (s)          " + "  ".join(f"{k} {v:.1f}" for k, v in self.timings_s.items()))
        return "\n".join(lines)
