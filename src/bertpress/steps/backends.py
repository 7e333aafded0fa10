"""Backends as recipe steps: every backend of ``runtime.backends`` is made from a PyTorch model by
the same export and quantize steps a recipe would apply, and ``bench`` times them side by side.

From an exported folder ``bench`` times the file it holds (and dynamic int8 made from an fp32
ONNX graph). Static int8 made for timing a task model is calibrated on random tokens: right for
timing, not for accuracy (``bertpress compress`` with a static ``quantize`` step calibrates on task
data); a sentence embedder's is calibrated on its text, as ``export`` calibrates it.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..errors import BertpressError
from ..measure.bench import DENSE, REFERENCE_BACKEND, BenchReport, Subject, bench_rows
from ..measure.cost import Reference
from ..measure.latency import LatencySetting, check_device, sample_inputs
from ..measure.machine import this_machine
from ..measure.macs import count_params, model_macs
from ..measure.size import state_dict_size_mb, weights_size_mb
from ..models.adapters import get_adapter
from ..models.task_heads import task_head_for_config
from ..models.loading import load_tokenizer, resolve_model
from ..quantize import quantize_onnx
from ..runtime.backends import BACKENDS, backend_of, backend_of_file, get_backend
from ..runtime.exported import ExportedModel, torch_module
from ..runtime.loading import exported_file_in, exported_model, load_any
from .base import StepConfig, apply_step
from .export import ExportStep
from .quantize import QuantizeStep, text_batches
from .state import State
from .workload import EmbeddingSetup, EmbeddingWorkload

# Random-token batches that static int8 made for timing calibrates on.
TIMING_CALIBRATION_BATCHES, TIMING_CALIBRATION_SIZE = 4, 8


def backend_steps(name: str) -> tuple[StepConfig, ...]:
    """The recipe steps that make backend ``name`` from a PyTorch model (none for fp32 PyTorch)."""
    backend = get_backend(name)
    if backend.runtime == "torch":
        return (QuantizeStep(backend="torch"),) if backend.int8 else ()
    if backend.int8 is None:
        return (ExportStep(format=backend.runtime),)
    return (QuantizeStep(backend=backend.runtime, mode=backend.int8),)


def deploy(state: State, backend: str) -> State:
    """``state``'s model made into ``backend`` in a scratch folder of its own (inside ``state``'s)."""
    deployed = replace(
        state, workdir=Path(tempfile.mkdtemp(dir=state.workdir)), deployed=None, export_dir=None,
        export_report=None, quantization=None, records=[],
    )
    for step in backend_steps(backend):
        apply_step(deployed, step)
    return deployed


def deployed_size_mb(state: State) -> float:
    """The deployed model's weights as they run (a PyTorch model's tensors, or the exported file)."""
    if state.export_report is not None:
        return state.export_report.size_mb
    return state_dict_size_mb(state.final_model)


def timing_state(model, workdir: Path, latency: LatencySetting, text: Text | None = None) -> State:
    """A state that can make every backend of ``model`` for timing: calibrated on random tokens, or
    on ``text`` for a sentence embedder, and with no per-layer fallback in static int8 (timing
    only: agreement on random tokens says nothing about accuracy)."""
    length = min(latency.seq_length, getattr(model.config, "max_position_embeddings", latency.seq_length))
    if text is None:
        batches = [
            sample_inputs(model.config, TIMING_CALIBRATION_SIZE, length, seed=seed)
            for seed in range(TIMING_CALIBRATION_BATCHES)
        ]
        task_head = task_head_for_config(model.config)
    else:
        batches, task_head = text_batches(text.workload, model, text.tokenizer, length), text.workload.task_head
    adapter = get_adapter(model)
    reference = Reference(adapter.heads_per_layer(), adapter.neurons_per_layer(), count_params(model), 0.0, length)
    return State(
        model, None, None, task_head, batches, reference, latency, workdir,
        max_length=length, progress=False, judge_static=False,
    )


@dataclass(frozen=True)
class Text:
    """A sentence embedder's text (its workload) and the tokenizer that encodes it."""

    workload: EmbeddingWorkload
    tokenizer: object


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
    embedding: EmbeddingSetup | None = None,
    dense: str | None = None,
) -> BenchReport:
    """Measure the model folder ``model``; with ``backends``, one row per backend and batch size,
    all the models of a batch size timed in turn; and when the folder's report.json names the
    dense model it was made from (and that model is at hand), the dense model on fp32 PyTorch and
    on each of ``backends`` too, with speedups against it.

    ``dense``: the dense model to time beside it instead (a model made in several commands names
    only the last one's input in its report, not the original).

    ``embedding``: ``model`` is a sentence embedder (pooling included in what is timed); its static
    int8 backends are calibrated on ``embedding``'s text."""
    check_device(device)
    threads = threads or torch.get_num_threads()
    latency = LatencySetting(seq_length=seq_length, device=device, threads=threads, min_run_time=min_run_time)
    workload = None if embedding is None else EmbeddingWorkload(embedding)
    if dense is not None and backends is None:
        raise BertpressError("a dense model to time beside the model needs --backends")
    if dense is not None:
        resolve_model(dense)  # a missing folder fails here, before any timing
    loaded = _load(model, workload)
    if backends is None:
        results = bench_rows([Subject(loaded)], batch_sizes, latency)
    else:
        _check_backends(loaded, backends)
        dense = dense or _dense_model_of(model)
        with tempfile.TemporaryDirectory(prefix="bertpress-bench-") as workdir:
            label = None if dense is None else "model"
            subjects = _subjects(loaded, backends, Path(workdir), latency, label, progress, _text(workload, model, backends))
            if dense is not None:
                (Path(workdir) / DENSE).mkdir()
                dense_backends = list(dict.fromkeys([REFERENCE_BACKEND, *backends]))
                subjects += _subjects(_load(dense, workload), dense_backends, Path(workdir) / DENSE, latency, DENSE,
                                      progress, _text(workload, dense, dense_backends))
            results = bench_rows(subjects, batch_sizes, latency)
    module = torch_module(loaded)
    return BenchReport(
        params=count_params(module),
        macs=model_macs(get_adapter(module), seq_length),
        seq_length=seq_length,
        device=device,
        threads=threads,
        size_mb=_source_size_mb(model, loaded),
        results=results,
        machine=this_machine(threads),
        dense_model=dense,
    )


def _load(model: str, workload: EmbeddingWorkload | None):
    """``model`` as bench times it: an exported folder on its runtime; a sentence embedder (with
    ``workload``) with its pooling; else the PyTorch model."""
    if workload is None or exported_file_in(resolve_model(model)):
        return load_any(model)
    return workload.load(model)


def _text(workload: EmbeddingWorkload | None, model: str, names: Sequence[str]) -> Text | None:
    """The text the static int8 backends among ``names`` of the sentence embedder ``model`` are
    calibrated on; None for a task model, an exported folder, or no static int8 among ``names``."""
    calibrated = any(get_backend(name).int8 == "static" for name in names)
    if workload is None or not calibrated or exported_file_in(resolve_model(model)):
        return None
    return Text(workload, load_tokenizer(model))


def _subjects(source, names: Sequence[str], workdir: Path, latency: LatencySetting, label: str | None,
              progress: bool, text: Text | None = None) -> list[Subject]:
    """``source`` made into each backend of ``names``, to be timed side by side (static int8
    calibrated on ``text`` where given, once for all of them)."""
    state = None if isinstance(source, ExportedModel) else timing_state(source, workdir, latency, text)
    subjects = []
    for name in tqdm(names, desc=f"backends ({label})" if label else "backends", disable=not progress):
        network, size_mb = _from_export(source, name, workdir) if state is None else _deployed(state, name)
        subjects.append(Subject(network, name, size_mb, label))
    return subjects


def _dense_model_of(model: str) -> str | None:
    """The dense model a compressed folder (or its export subfolder) was made from, as its
    report.json names it; None when none is named or it is not a folder at hand."""
    folders = [Path(model), Path(model).parent] if exported_file_in(model) else [Path(model)]
    report = next((folder / "report.json" for folder in folders if (folder / "report.json").is_file()), None)
    if report is None:
        return None
    try:
        name = json.loads(report.read_text()).get("model")
        return name if isinstance(name, str) and Path(resolve_model(name)).is_dir() else None
    except (OSError, ValueError, AttributeError, BertpressError):  # unreadable, not a report, or not at hand
        return None


def _deployed(state: State, name: str) -> tuple[object, float]:
    """``state``'s model on backend ``name``, and the size of its weights as they run."""
    deployed = deploy(state, name)
    return deployed.final_model, deployed_size_mb(deployed)


def _check_backends(source, names: Sequence[str]) -> None:
    """Fail before any timing when a backend is unknown or an exported folder cannot give it."""
    for name in names:
        backend = get_backend(name)
        if not isinstance(source, ExportedModel):
            continue  # a PyTorch model gives every backend
        if backend.runtime == "torch":
            raise BertpressError("the torch backends need a PyTorch model folder, not an exported one")
        if not _made_from(source.path.name, name):
            raise BertpressError(f"backend {name} needs {backend.file}, but {source.path.parent} holds {source.path.name}")


def _made_from(held: str, name: str) -> bool:
    """Whether an exported folder holding file ``held`` gives backend ``name``: its own, and
    dynamic int8 quantized from an fp32 ONNX graph."""
    dynamic_from_fp32 = (BACKENDS[name], held) == (backend_of("onnx", "dynamic"), backend_of("onnx", None).file)
    return backend_of_file(held) == BACKENDS[name] or dynamic_from_fp32


def _from_export(source: ExportedModel, name: str, workdir: Path) -> tuple[ExportedModel, float]:
    """Backend ``name`` of an exported folder (checked by ``_check_backends`` to give it)."""
    if backend_of_file(source.path.name) == BACKENDS[name]:
        return source, weights_size_mb(source.path)
    target = workdir / BACKENDS[name].file
    quantize_onnx(source.path, target)
    return exported_model(target, source.config), weights_size_mb(target)


def _source_size_mb(name_or_path: str, loaded) -> float:
    if isinstance(loaded, ExportedModel):
        return weights_size_mb(loaded.path)
    return weights_size_mb(name_or_path) if Path(name_or_path).is_dir() else state_dict_size_mb(loaded)
