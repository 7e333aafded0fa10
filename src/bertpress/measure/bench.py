"""Latency, throughput, parameters, MACs and size of one model, or of several backends side by side.

A backend is a runtime and a precision: ``torch-fp32``, ``torch-int8`` (torchao), ``onnx-fp32``,
``onnx-int8`` and ``onnx-int8-static`` (ONNX Runtime), ``openvino-fp32`` and ``openvino-int8``
(OpenVINO, int8 through NNCF). From a PyTorch folder the exported files are made on the fly in a
temporary folder; from an exported folder its own file is used. Static int8 made on the fly
(``onnx-int8-static``, ``openvino-int8``) is calibrated on random tokens: right for timing, not
for accuracy (``bertpress compress`` with a static ``quantize`` step calibrates on task data).
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import ClassVar

import torch
from tqdm.auto import tqdm

from ..errors import BertpressError
from ..export.onnx import StaticCalibration, export_onnx, input_names, static_feeds
from ..export.onnx_model import OPENVINO_FILES, STATIC_INT8_FILE, OnnxClassifier, torch_module
from ..export.openvino import OpenVinoClassifier, write_openvino
from ..formatting import format_table
from ..models.adapters import get_adapter
from ..models.loading import load_model
from ..quantize import Int8Dynamic, quantize, quantize_onnx
from ..reports import Report
from .latency import check_device, measure_latency, sample_inputs
from .macs import count_params, model_macs
from .size import state_dict_size_mb, weights_size_mb


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


def bench(
    model: str,
    batch_sizes: Sequence[int] = (1, 32),
    seq_length: int = 128,
    *,
    device: str = "cpu",
    threads: int | None = None,
    backends: Sequence[str] | None = None,
    min_run_time: float = 1.0,
    progress: bool = True,
) -> BenchReport:
    """Measure the model folder ``model``; with ``backends``, one row per backend and batch size."""
    check_device(device)
    threads = threads or torch.get_num_threads()

    def rows(network) -> list[dict]:
        return [_time(network, batch_size, seq_length, device, threads, min_run_time) for batch_size in batch_sizes]

    loaded = load_model(model)
    if backends is None:
        results = rows(loaded)
    else:
        _check_backends(loaded, backends)
        with tempfile.TemporaryDirectory(prefix="bertpress-bench-") as workdir:
            variants = BackendModels(loaded, Path(workdir))
            results = []
            for backend in tqdm(backends, desc="backends", disable=not progress):
                network, size_mb = BACKENDS[backend](variants)
                results += [replace(row, backend=backend, size_mb=size_mb) for row in rows(network)]
    module = torch_module(loaded)
    return BenchReport(
        params=count_params(module),
        macs=model_macs(get_adapter(module), seq_length),
        seq_length=seq_length,
        device=device,
        threads=threads,
        size_mb=_source_size_mb(model, loaded),
        results=results,
    )


def _time(model, batch_size: int, seq_length: int, device: str, threads: int, min_run_time: float) -> BenchRow:
    latency_ms = measure_latency(
        model, batch_size, seq_length, device=device, threads=threads, min_run_time=min_run_time
    )
    return BenchRow(batch_size, round(latency_ms, 3), round(batch_size * 1e3 / latency_ms, 2))


def _check_backends(source, backends: Sequence[str]) -> None:
    """Fail before any timing when an exported folder cannot give a requested backend."""
    if not isinstance(source, OnnxClassifier):
        return  # a PyTorch model gives every backend
    if any(name.startswith("torch-") for name in backends):
        raise BertpressError("the torch backends need a PyTorch model folder, not an ONNX export")
    for backend in (name for name in backends if name in ONNX_BACKEND_FILES):
        if source.path.name != ONNX_BACKEND_FILES[backend] and (backend, source.path.name) != ("onnx-int8", "model.onnx"):
            raise BertpressError(
                f"backend {backend} needs {ONNX_BACKEND_FILES[backend]}, but {source.path.parent} holds {source.path.name}"
            )


def _source_size_mb(name_or_path: str, loaded) -> float:
    if isinstance(loaded, OnnxClassifier):
        return weights_size_mb(loaded.path)
    return weights_size_mb(name_or_path) if Path(name_or_path).is_dir() else state_dict_size_mb(loaded)


class BackendModels:
    """Each backend's model made from one loaded source: a PyTorch model or an ``OnnxClassifier``
    (checked by ``_check_backends`` to hold what is asked of it).

    ONNX files are exported and quantized in ``workdir`` when the source does not hold them.
    A backend's size is that of its weights as they run (a PyTorch model's fp32 or int8 tensors,
    an ONNX file), so that the rows compare like with like.
    """

    def __init__(self, source, workdir: Path):
        self.source = source
        self.workdir = workdir

    def torch_fp32(self):
        return self.source, state_dict_size_mb(self.source)

    def torch_int8(self):
        model = quantize(copy.deepcopy(self.source), Int8Dynamic())
        return model, state_dict_size_mb(model)

    def onnx_fp32(self):
        return self._onnx(self._fp32_file)

    def onnx_int8(self):
        return self._onnx(self._int8_file)

    def openvino_fp32(self):
        return self._openvino(None)

    def openvino_int8(self):
        return self._openvino(self._random_token_calibration())

    def _openvino(self, static: StaticCalibration | None):
        if isinstance(self.source, OnnxClassifier):
            return self._onnx(self.source.path)
        folder = self.workdir / ("openvino-int8" if static else "openvino-fp32")
        folder.mkdir()
        report = write_openvino(self.source, folder, static)
        return OpenVinoClassifier(folder / report.file, self.source.config), report.size_mb

    def _random_token_calibration(self) -> StaticCalibration:
        """Timing only: activation ranges from random tokens."""
        length = min(128, getattr(self.source.config, "max_position_embeddings", 128))
        batches = [sample_inputs(self.source.config, 8, length, seed=seed) for seed in range(4)]
        return StaticCalibration(static_feeds(batches, input_names(self.source), 32))

    def onnx_int8_static(self):
        if isinstance(self.source, OnnxClassifier):
            return self._onnx(self.source.path)
        folder = self.workdir / "onnx-int8-static"
        export_onnx(self.source, folder, static=self._random_token_calibration())
        return self._onnx(folder / STATIC_INT8_FILE)

    def _onnx(self, path: Path):
        return OnnxClassifier(path, self.source.config), weights_size_mb(path)

    @cached_property
    def _fp32_file(self) -> Path:
        if isinstance(self.source, OnnxClassifier):
            return self.source.path
        folder = self.workdir / "onnx-fp32"
        export_onnx(self.source, folder)
        return folder / "model.onnx"

    @cached_property
    def _int8_file(self) -> Path:
        if isinstance(self.source, OnnxClassifier) and self.source.path.name == "model.int8.onnx":
            return self.source.path
        target = self.workdir / "model.int8.onnx"
        quantize_onnx(self._fp32_file, target)
        return target


BACKENDS: dict[str, Callable[[BackendModels], tuple]] = {
    "torch-fp32": BackendModels.torch_fp32,
    "torch-int8": BackendModels.torch_int8,
    "onnx-fp32": BackendModels.onnx_fp32,
    "onnx-int8": BackendModels.onnx_int8,
    "onnx-int8-static": BackendModels.onnx_int8_static,
    "openvino-fp32": BackendModels.openvino_fp32,
    "openvino-int8": BackendModels.openvino_int8,
}

# The file an exported folder must hold to give each ONNX backend (dynamic int8 can also be made
# from the fp32 file).
ONNX_BACKEND_FILES = {
    "onnx-fp32": "model.onnx", "onnx-int8": "model.int8.onnx", "onnx-int8-static": STATIC_INT8_FILE,
    "openvino-fp32": OPENVINO_FILES[0], "openvino-int8": OPENVINO_FILES[1],
}
