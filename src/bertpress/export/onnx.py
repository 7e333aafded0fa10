"""Export a classifier (dense or pruned) to ONNX, fuse and quantize it, and prove every file
computes what PyTorch computes.

The graph comes from ``torch.onnx.export`` (the torch.export-based exporter) with dynamic batch
and sequence axes. Per-layer sizes need nothing special: a pruned model is an ordinary module
tree with smaller Linears, zero-size ones where a block was emptied.
"""

from __future__ import annotations

import copy
import inspect
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

import numpy as np
import onnx
import torch
from transformers import PretrainedConfig, PreTrainedModel

from ..card import export_card, folder_files, write_card
from ..errors import BertpressError
from ..formatting import format_table
from ..measure.latency import sample_inputs
from ..measure.size import weights_size_mb
from ..models.adapters import get_adapter
from ..outputs import atomic_dir, write_json
from ..quantize import OnnxInt8Static, quantize_onnx, quantize_onnx_static
from ..quiet import quiet
from ..reports import Report
from ..runtime.backends import backend_of
from ..models.task_heads import Embedding
from ..runtime.exported import ExportedModel, output_names
from ..runtime.onnx import OnnxRuntimeModel
from .fusions import Fusions, fuse_attention_per_layer, fuse_transformer_ops

FP32_FILE = backend_of("onnx", None).file
INT8_FILE = backend_of("onnx", "dynamic").file
STATIC_INT8_FILE = backend_of("onnx", "static").file  # int8 activations too (quantize.onnx_static)
TOLERANCE = 1e-4  # max |logit difference| an fp32 graph may show against PyTorch
TRACE_SHAPE = (2, 8)  # batch and length of the example the graph is traced with
# Validation uses another batch size and length, so it also proves that both axes are dynamic.
CHECK_SHAPE = (3, 13)


@dataclass(frozen=True)
class ExportReport(Report):
    kind: ClassVar[str] = "export"
    derived: ClassVar[tuple[str, ...]] = ("tolerance", "check_shape")

    file: str  # the exported file: a backend's file of ``runtime.backends`` (model.onnx, ...)
    inputs: list[str]
    opset: int | None  # None: an OpenVINO graph converted from PyTorch, not from ONNX
    fusions: list[Fusions]  # each fusion pass: what it fused, and why its graph was not kept if it was not
    max_abs_diff: float  # the fp32 graph's logits against PyTorch's, on the check batch
    int8_max_abs_diff: float | None
    size_mb: float
    output: str = ""  # the folder written
    tokenizer: bool = True  # whether the folder holds the model's tokenizer
    int8_mode: str | None = None  # dynamic, or static (calibrated activations)
    fp32_layers: list[int] = field(default_factory=list)  # static int8: layers that fell back to fp32
    fallback_cut_short: bool = False  # static int8: the deadline stopped the fallback above the tolerance
    converted_from: str | None = None  # OpenVINO: "pytorch", or "onnx (why the PyTorch conversion was not kept)"

    @property
    def tolerance(self) -> float:
        return TOLERANCE

    @property
    def check_shape(self) -> list[int]:
        return list(CHECK_SHAPE)

    def render(self) -> str:
        int8_diff = "-" if self.int8_max_abs_diff is None else self.int8_max_abs_diff
        rows = [[str(Path(self.output) / self.file), self.size_mb, self.max_abs_diff, int8_diff]]
        lines = [format_table(["file", "size (MB)", "fp32 max |Δ logit|", "int8 max |Δ logit|"], rows), ""]
        if self.int8_mode == "static":
            kept = ", ".join(map(str, self.fp32_layers)) or "none"
            attention = "fused attention in fp32" if self.converted_from == "pytorch" else "attention included"
            lines.append(f"static int8 (calibrated activations, {attention}); layers kept in fp32: {kept}")
            if self.fallback_cut_short:
                lines.append("the per-layer fallback to fp32 was cut short by the time budget")
        for fusions in self.fusions:
            fused = ", ".join(f"{op} ×{count}" for op, count in fusions.fused_operators.items()) or "none"
            outcome = f"rejected ({fusions.rejected})" if fusions.rejected else "kept"
            lines.append(f"fusions by {fusions.step}: {fused}: {outcome}")
        if self.converted_from:
            lines.append(f"OpenVINO graph converted from {self.converted_from}")
        if not self.tokenizer:
            lines.append("note: the model folder has no tokenizer; the export has none either")
        return "\n".join(lines)


@dataclass(frozen=True)
class StaticCalibration:
    """What static int8 needs: sample inputs (graph input name → int64 array, one dict per batch)
    and, for the per-layer fallback, a judge of a quantized model (an ``ExportedModel`` on ONNX
    Runtime or OpenVINO): the points of agreement with fp32 it loses; ``deadline``: a
    ``time.perf_counter()`` reading the fallback must stop by (``quantize.fallback``)."""

    feeds: list[dict[str, np.ndarray]]
    judge: Callable[[ExportedModel], float] | None = None
    config: OnnxInt8Static = OnnxInt8Static()
    deadline: float | None = None


def export_onnx(
    model: PreTrainedModel,
    output: str | Path,
    *,
    tokenizer=None,
    int8: bool = False,
    static: StaticCalibration | None = None,
    overwrite: bool = False,
    inputs: Sequence[str] = (),
    base_model: str | None = None,
) -> ExportReport:
    """Write folder ``output`` atomically (see ``write_export``) with its model card (naming
    ``base_model``, the input's name); ``overwrite`` and ``inputs`` as for ``outputs.atomic_dir``.
    ``bertpress.load`` runs the folder on ONNX Runtime."""
    with atomic_dir(output, overwrite=overwrite, inputs=inputs) as folder:
        report = write_export(model, folder, tokenizer=tokenizer, int8=int8, static=static)
        task, embedder = getattr(model.config, "finetuning_task", None), output_names(model) == Embedding.output_names
        write_card(folder, export_card(report.to_dict(), base_model, task, embedder, folder_files(folder)))
    return replace(report, output=str(output))


def write_export(
    model: PreTrainedModel, folder: Path, *, tokenizer=None, int8: bool = False, static: StaticCalibration | None = None
) -> ExportReport:
    """Into the existing ``folder``: the fp32 graph (alone, or replaced by the dynamic int8 one
    with ``int8`` or the static int8 one with ``static``), config.json, the tokenizer and export.json."""
    config = export_config(model)
    report = write_onnx(model.eval(), folder, config)
    config.save_pretrained(folder)
    if tokenizer is not None:
        tokenizer.save_pretrained(folder)
    if static is not None:
        return quantize_export_static(model, folder, report, static)
    if int8:
        return quantize_export(model, folder, report)
    write_json(folder / "export.json", report.to_dict())
    return report


def quantize_export(model: PreTrainedModel, folder: Path, report: ExportReport) -> ExportReport:
    """Replace an export folder's fp32 graph by its int8 copy, checked against ``model``."""
    config = export_config(model)
    fp32, int8 = folder / FP32_FILE, folder / INT8_FILE
    quantize_onnx(fp32, int8)
    diff = max_abs_diff(model, OnnxRuntimeModel(int8, config), check_inputs(config, report.inputs))
    fp32.unlink()  # the folder holds one model: the one asked for
    report = replace(report, file=int8.name, int8_max_abs_diff=diff, size_mb=weights_size_mb(int8), int8_mode="dynamic")
    write_json(folder / "export.json", report.to_dict())
    return report


def quantize_export_static(
    model: PreTrainedModel, folder: Path, report: ExportReport, calibration: StaticCalibration
) -> ExportReport:
    """Replace an export folder's fp32 graph by a static int8 one, checked against ``model``.

    It is quantized from the plain traced graph: a fused ``Attention`` op would stay fp32 under
    QDQ quantization, and ONNX Runtime's fused ops (SkipLayerNormalization, ...) defeat the shape
    inference that tells the quantizer which tensors are float, so nothing after the first of
    them would be quantized. ONNX Runtime fuses what it can around the QDQ nodes when it loads the file.
    """
    config = export_config(model)
    adapter = get_adapter(model)
    target = folder / STATIC_INT8_FILE
    with tempfile.TemporaryDirectory(prefix="bertpress-static-") as scratch:
        plain = write_onnx(model, Path(scratch), config, fuse=False)
        prefixes = [adapter.layer_paths(index).layer for index in range(adapter.num_layers)]
        judge = calibration.judge and (lambda path: calibration.judge(OnnxRuntimeModel(path, config)))
        outcome = quantize_onnx_static(
            Path(scratch) / plain.file, target, calibration.feeds, prefixes, calibration.config, judge, calibration.deadline
        )
    diff = max_abs_diff(model, OnnxRuntimeModel(target, config), check_inputs(config, report.inputs))
    (folder / FP32_FILE).unlink()
    report = replace(
        report, file=target.name, int8_max_abs_diff=diff, size_mb=weights_size_mb(target), int8_mode="static",
        fp32_layers=outcome.fp32_layers, fallback_cut_short=outcome.cut_short,
    )
    write_json(folder / "export.json", report.to_dict())
    return report


def static_feeds(batches: Sequence[dict[str, torch.Tensor]], names: Sequence[str], samples: int) -> list[dict[str, np.ndarray]]:
    """About ``samples`` examples of ``batches`` as graph feeds, taken evenly across them (calibration
    batches are sorted by length: the first ones hold only the shortest texts)."""
    count = max(1, min(len(batches), round(samples / max(len(batches[0]["input_ids"]), 1))))
    chosen = [batches[round(i * (len(batches) - 1) / max(count - 1, 1))] for i in range(count)]
    defaults = {"token_type_ids": lambda batch: torch.zeros_like(batch["input_ids"])}  # as ExportedModel fills them
    return [
        {name: (batch[name] if name in batch else defaults[name](batch)).cpu().numpy().astype(np.int64) for name in names}
        for batch in chosen
    ]


def export_config(model: PreTrainedModel) -> PretrainedConfig:
    """The model's config, naming the stock architecture an ONNX model's skeleton is built from
    (and, for a sentence embedder, its pooling: the graph computes it)."""
    config = copy.deepcopy(model.config)
    config.architectures = [type(_network(model)).__name__.removeprefix("Pruned")]
    pooling = getattr(model, "pooling", None)
    if pooling is not None:
        config.sentence_embedding = {"pooling": pooling.mode, "normalize": pooling.normalize}
    return config


def _network(model):
    """The transformers model inside: a sentence embedder's encoder, or the model itself."""
    return model.encoder if getattr(model, "pooling", None) is not None else model


def write_onnx(model: PreTrainedModel, folder: Path, config: PretrainedConfig, fuse: bool = True) -> ExportReport:
    """Trace, check and (with ``fuse``, where exact) fuse ``model`` into ``folder``'s fp32 graph file."""
    names = input_names(model)
    check = check_inputs(config, names)
    path = folder / FP32_FILE
    _trace(model, path, names)
    _require_exact(model, path, config, check, "the exported graph")
    fusions = _fuse_where_exact(model, path, config, check) if fuse else []
    diff = max_abs_diff(model, OnnxRuntimeModel(path, config), check)
    return ExportReport(path.name, names, _opset(path), fusions, diff, None, weights_size_mb(path))


def input_names(model: PreTrainedModel) -> list[str]:
    """The graph's inputs: token types only where the model has more than one type."""
    takes_types = "token_type_ids" in inspect.signature(_network(model).forward).parameters
    types = takes_types and getattr(model.config, "type_vocab_size", 1) > 1
    return ["input_ids", "attention_mask", *(["token_type_ids"] if types else [])]


def max_abs_diff(model: PreTrainedModel, exported: ExportedModel, inputs: dict[str, torch.Tensor]) -> float:
    with torch.inference_mode():
        expected, actual = model(**inputs), exported(**inputs)
    return max(float((getattr(actual, name) - getattr(expected, name)).abs().max()) for name in output_names(model))


def _trace(model: PreTrainedModel, path: Path, names: list[str]) -> None:
    example = with_token_types(sample_inputs(model.config, *TRACE_SHAPE), names)
    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
    with quiet():
        torch.onnx.export(
            model,
            (),
            str(path),
            kwargs=example,
            input_names=names,
            output_names=graph_output_names(model),
            dynamic_shapes={name: {0: batch, 1: sequence} for name in names},
            dynamo=True,
            external_data=False,  # one file; BERT-family classifiers are far below protobuf's 2 GB
            verbose=False,
        )


def graph_output_names(model) -> list[str]:
    """A sentence embedder's graph also outputs the token embeddings: sentence-transformers' ONNX
    backend reads those (as ``last_hidden_state``) and pools them itself."""
    names = list(output_names(model))
    return [*names, "last_hidden_state"] if names == list(Embedding.output_names) else names


def check_inputs(config: PretrainedConfig, names: list[str]) -> dict[str, torch.Tensor]:
    """A batch with a padded sequence and, where used, sentence pairs' second token type."""
    inputs = with_token_types(sample_inputs(config, *CHECK_SHAPE, seed=1), names)
    half = CHECK_SHAPE[1] // 2
    inputs["attention_mask"][0, half:] = 0
    if "token_type_ids" in inputs:
        inputs["token_type_ids"][:, half:] = 1
    return inputs


def with_token_types(inputs: dict[str, torch.Tensor], names: list[str]) -> dict[str, torch.Tensor]:
    if "token_type_ids" in names:
        inputs["token_type_ids"] = torch.zeros_like(inputs["input_ids"])
    return inputs


def _require_exact(
    model: PreTrainedModel, path: Path, config: PretrainedConfig, check: dict[str, torch.Tensor], what: str
) -> None:
    diff = max_abs_diff(model, OnnxRuntimeModel(path, config), check)
    if diff > TOLERANCE:
        raise BertpressError(f"{what} differs from PyTorch by {diff:.3g} (tolerance {TOLERANCE:g})")


def _fuse_where_exact(
    model: PreTrainedModel, path: Path, config: PretrainedConfig, check: dict[str, torch.Tensor]
) -> list[Fusions]:
    """Apply each fusion pass in turn; keep its graph where it fits every layer and matches PyTorch."""
    adapter = get_adapter(model)
    num_heads = adapter.hidden_size // adapter.head_size
    passes = [
        lambda source, target: fuse_transformer_ops(source, target, num_heads, adapter.hidden_size),
        lambda source, target: fuse_attention_per_layer(source, target, adapter.head_size),
    ]
    outcomes = []
    for fuse in passes:
        fused = path.with_name("model.fused.onnx")
        fusions = fuse(path, fused)
        if not fusions.rejected:
            try:
                _require_exact(model, fused, config, check, "the fused graph")
                os.replace(fused, path)
            except BertpressError as mismatch:
                fused.unlink()
                fusions = Fusions(fusions.step, fusions.fused_operators, str(mismatch))
        outcomes.append(fusions)
    return outcomes


def _opset(path: Path) -> int:
    model = onnx.load(path, load_external_data=False)
    return next(entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx"))
