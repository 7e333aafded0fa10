"""What a search is asked for: a latency target, an accuracy floor, and a time limit."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..errors import BertpressError


@dataclass(frozen=True)
class Target:
    """A latency at ``batch_size`` × ``seq_length``: ``latency_ms``, or ``speedup`` over dense fp32 PyTorch."""

    latency_ms: float | None = None
    speedup: float | None = None
    batch_size: int = 32
    seq_length: int | None = None  # None: the task's own length (a SQuAD window: 384)

    def __post_init__(self):
        if (self.latency_ms is None) == (self.speedup is None):
            raise BertpressError("give one target: --latency-ms X or --speedup S")
        value = self.latency_ms if self.latency_ms is not None else self.speedup
        if not (math.isfinite(value) and value > 0):
            raise BertpressError(f"the target must be a positive number, got {value}")

    def ms(self, dense_ms: float) -> float:
        """The target in milliseconds, given the dense model's latency."""
        return self.latency_ms if self.latency_ms is not None else dense_ms / self.speedup

    def describe(self) -> str:
        shape = f"batch {self.batch_size} x {self.seq_length} tokens"
        return f"{self.latency_ms:g} ms at {shape}" if self.latency_ms is not None else f"{self.speedup:g}x at {shape}"


@dataclass(frozen=True)
class Floor:
    """The accuracy a user will not go below: ``max_drop`` points under the dense model, or ``min_metric``."""

    max_drop: float | None = None
    min_metric: float | None = None

    def __post_init__(self):
        if (self.max_drop is None) == (self.min_metric is None):
            raise BertpressError("give one floor: --max-drop POINTS or --min-metric M")
        if self.max_drop is not None and not self.max_drop >= 0:
            raise BertpressError(f"--max-drop must be at least 0 points, got {self.max_drop}")

    def metric(self, dense: float) -> float:
        """The lowest acceptable metric (in points), given the dense model's."""
        return dense - self.max_drop if self.max_drop is not None else self.min_metric

    def describe(self) -> str:
        return f"at most {self.max_drop:g} points below dense" if self.max_drop is not None else f"at least {self.min_metric:g}"


_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600}


def parse_duration(text: str) -> float:
    """Seconds in ``30m``, ``90s``, ``1.5h`` or a plain number of seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", str(text))
    if match is None:
        raise BertpressError(f"a time budget looks like 30m, 90s or 1.5h, not '{text}'")
    return float(match.group(1)) * _UNITS[match.group(2)]
