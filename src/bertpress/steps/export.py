"""The ``export`` step: an ONNX graph (or OpenVINO IR) of the current model, fused where exact,
checked against PyTorch."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import ClassVar, Literal

from ..export.folders import write_backend
from ..export.onnx import StaticCalibration
from ..prune.pipeline import timed
from ..runtime.backends import Backend, backend_of, runtime_folder
from ..runtime.loading import load_exported
from .base import Stage, StepConfig, register_step
from .state import State


@dataclass(frozen=True)
class ExportStep(StepConfig):
    name: ClassVar[str] = "export"
    stage: ClassVar[Stage] = Stage.EXPORT

    format: Literal["onnx", "openvino"] = "onnx"


def export_current(state: State, backend: Backend, static: StaticCalibration | None = None) -> dict:
    """Export the state's model as ``backend`` into its scratch folder's ``onnx/`` or ``openvino/``
    (where a sentence-transformers folder keeps it); the exported model becomes the deployed one.
    An earlier export of the same recipe is replaced."""
    folder = state.workdir / runtime_folder(backend.runtime)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    with timed(state.timings_s, "export"):
        report = write_backend(state.model, folder, backend, tokenizer=state.tokenizer, static=static)
    state.export_dir, state.export_report = folder, report
    state.deployed = load_exported(folder)
    return {
        "file": report.file, "max_abs_diff": report.max_abs_diff, "int8_max_abs_diff": report.int8_max_abs_diff,
        "fp32_layers": report.fp32_layers, "fallback_cut_short": report.fallback_cut_short,
    }


def run_export(state: State, config: ExportStep) -> dict:
    return export_current(state, backend_of(config.format, None))


register_step(ExportStep, run_export)
