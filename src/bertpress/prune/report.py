"""What a user reads after a prune: one JSON schema (report.json) and one readable summary."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..cli.common import format_table


@dataclass(frozen=True)
class LatencySetting:
    """Where latency is measured: the speedup is dense / pruned latency in one process."""

    batch_size: int = 32
    seq_length: int = 128
    device: str = "cpu"
    threads: int | None = None


@dataclass(frozen=True)
class Measurement:
    metrics: dict[str, float]
    macs: int
    params: int
    latency_ms: float


@dataclass
class PruneReport:
    task: str
    model: str
    budget: dict
    baseline: Measurement
    pruned: Measurement
    heads_per_layer: list[int]
    neurons_per_layer: list[int]
    timings_s: dict[str, float]
    macs_seq_length: float  # mean calibration length: the MACs budget is taken at it
    latency: LatencySetting
    config: dict = field(default_factory=dict)

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

    def to_dict(self) -> dict:
        data = asdict(self)
        data.update(
            macs_ratio=self.macs_ratio,
            params_ratio=self.params_ratio,
            latency_ratio=self.latency_ratio,
            speedup=self.speedup,
        )
        return data

    def render(self) -> str:
        metric_names = list(self.baseline.metrics)
        rows = [
            [name, *(m.metrics[key] for key in metric_names), m.macs, m.params, m.latency_ms]
            for name, m in (("dense", self.baseline), ("pruned", self.pruned))
        ]
        latency = f"latency_ms (b{self.latency.batch_size}, s{self.latency.seq_length})"
        table = format_table(["model", *metric_names, "MACs", "params", latency], rows)
        return "\n".join(
            [
                table,
                f"budget {self.budget}",
                f"MACs ratio {self.macs_ratio:.3f}  params ratio {self.params_ratio:.3f}"
                f"  latency ratio {self.latency_ratio:.3f}  speedup {self.speedup:.2f}x",
                f"heads per layer   {self.heads_per_layer}",
                f"neurons per layer {self.neurons_per_layer}",
                "time (s)          " + "  ".join(f"{k} {v:.1f}" for k, v in self.timings_s.items()),
            ]
        )
