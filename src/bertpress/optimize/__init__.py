"""Search for the best model under a latency target and an accuracy floor (``optimize``), and the
Pareto report of what it tried."""

from .goals import Floor, Target, parse_duration
from .report import CandidateResult, OptimizeReport
from .search import NoModelMeetsTarget, optimize

__all__ = ["CandidateResult", "Floor", "NoModelMeetsTarget", "OptimizeReport", "Target", "optimize", "parse_duration"]
