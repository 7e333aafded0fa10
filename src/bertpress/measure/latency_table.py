"""Per-device latency of one attention block by head count and one FFN block by width.

A latency budget needs to predict a pruned model's latency before it exists. Following Kwon et
al. (2022), each block's measured latency is fitted piecewise-linearly: flat up to a threshold
(below it the hardware is not saturated), then a slope. A block with no units costs what its
emptied form costs (LayerNorm and bias): the search may drop whole blocks.

Tables are cached on disk, keyed by everything that changes the timings.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import platform
from contextlib import suppress
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..models.adapters import Adapter
from ..models.hooks import hooks
from ..models.shrink import shrink
from .latency import time_callable


@dataclass(frozen=True)
class PiecewiseLinear:
    """Latency (ms) of a block with ``n`` units: ``empty`` at 0, else flat to ``threshold``, then ``slope``."""

    empty: float
    base: float
    threshold: float
    slope: float

    def __call__(self, units: int) -> float:
        if units == 0:
            return self.empty
        return self.base + self.slope * max(0.0, units - self.threshold)

    @classmethod
    def fit(cls, units: list[int], latencies: list[float]) -> PiecewiseLinear:
        """Least squares over every candidate threshold; ``units[0]`` must be 0 (the empty block)."""
        x = torch.tensor(units[1:], dtype=torch.float64)
        y = torch.tensor(latencies[1:], dtype=torch.float64)
        best = None
        for threshold in [0.0, *x.tolist()]:
            design = torch.stack([torch.ones_like(x), (x - threshold).clamp(min=0)], dim=1)
            solution = torch.linalg.lstsq(design, y[:, None]).solution.flatten()
            base, slope = float(solution[0]), max(0.0, float(solution[1]))
            error = float((design @ torch.tensor([base, slope], dtype=torch.float64) - y).pow(2).sum())
            if best is None or error < best[0]:
                best = (error, base, threshold, slope)
        _, base, threshold, slope = best
        return cls(empty=latencies[0], base=base, threshold=threshold, slope=slope)


@dataclass(frozen=True)
class LatencyTable:
    attention: PiecewiseLinear
    ffn: PiecewiseLinear
    key: dict

    def layer_ms(self, heads: int, neurons: int) -> float:
        return self.attention(heads) + self.ffn(neurons)

    def encoder_ms(self, heads_per_layer: list[int], neurons_per_layer: list[int]) -> float:
        return sum(self.layer_ms(h, n) for h, n in zip(heads_per_layer, neurons_per_layer))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> LatencyTable:
        return cls(PiecewiseLinear(**data["attention"]), PiecewiseLinear(**data["ffn"]), data["key"])


def default_cache_dir() -> Path:
    return Path(os.environ.get("BERTPRESS_CACHE", Path.home() / ".cache" / "bertpress")) / "latency"


def latency_table(
    adapter: Adapter,
    batch_size: int,
    seq_length: int,
    *,
    device: str = "cpu",
    threads: int | None = None,
    cache_dir: Path | None = None,
    progress: bool = True,
) -> LatencyTable:
    """The cached table for this device and shape, measured (a few seconds) if absent."""
    threads = threads or torch.get_num_threads()
    heads, neurons = max(adapter.heads_per_layer()), max(adapter.neurons_per_layer())
    key = {
        "device": device,
        "device_name": _device_name(device),
        "threads": threads,
        "batch_size": batch_size,
        "seq_length": seq_length,
        "family": adapter.config.model_type,
        "hidden_size": adapter.hidden_size,
        "head_size": adapter.head_size,
        "heads": heads,
        "neurons": neurons,
        "torch": torch.__version__,
    }
    path = (cache_dir or default_cache_dir()) / f"{hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]}.json"
    if path.is_file():
        return LatencyTable.from_dict(json.loads(path.read_text()))
    table = _measure_table(adapter, key, progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(table.to_dict(), indent=2))
    return table


def _measure_table(adapter: Adapter, key: dict, progress: bool) -> LatencyTable:
    head_counts = list(range(key["heads"] + 1))
    step = max(1, key["neurons"] // 16)
    neuron_counts = sorted({0, 1, *range(step, key["neurons"] + 1, step), key["neurons"]})
    jobs = [("attention", n) for n in head_counts] + [("ffn", n) for n in neuron_counts]
    timings: dict[str, list[float]] = {"attention": [], "ffn": []}
    for block, units in tqdm(jobs, desc="latency table", disable=not progress):
        timings[block].append(_block_ms(adapter, block, units, key))
    return LatencyTable(
        attention=PiecewiseLinear.fit(head_counts, timings["attention"]),
        ffn=PiecewiseLinear.fit(neuron_counts, timings["ffn"]),
        key=key,
    )


def _block_ms(adapter: Adapter, block: str, units: int, key: dict) -> float:
    """Time layer 0 of a copy shrunk to ``units`` in ``block`` and nothing in the other block."""
    model = copy.deepcopy(adapter.model).to(key["device"])
    probe = type(adapter)(model)
    heads = [_first(units if block == "attention" else 0, n) for n in probe.heads_per_layer()]
    neurons = [_first(units if block == "ffn" else 0, n) for n in probe.neurons_per_layer()]
    shrink(probe, heads, neurons)
    layer_inputs = _layer_inputs(probe, key)
    layer = probe.layer(0)
    with torch.inference_mode():
        # Blocks are small and many: shorter runs than a whole-model measurement.
        return time_callable(lambda: layer(*layer_inputs[0], **layer_inputs[1]), key["device"], key["threads"], 0.2)


def _first(kept: int, total: int) -> torch.Tensor:
    """A mask keeping the first ``kept`` of ``total`` units."""
    return (torch.arange(total) < kept).float()


def _layer_inputs(adapter: Adapter, key: dict) -> tuple[tuple, dict]:
    """The arguments the encoder passes to its first layer, for a random full batch."""
    captured = {}

    def keep(_module, args, kwargs):
        captured["call"] = (args, kwargs)
        raise _Captured

    shape = (key["batch_size"], key["seq_length"])
    ids = torch.randint(0, adapter.config.vocab_size, shape, device=key["device"])
    handle = adapter.layer(0).register_forward_pre_hook(keep, with_kwargs=True)
    with hooks([handle]), torch.inference_mode(), suppress(_Captured):
        adapter.model(input_ids=ids, attention_mask=torch.ones_like(ids))
    return captured["call"]


class _Captured(Exception):
    """Stops a forward pass once the first layer's inputs are known."""


def _device_name(device: str) -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(device)
    return f"cpu:{platform.processor() or platform.machine()}"
