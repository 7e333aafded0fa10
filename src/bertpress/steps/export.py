"""The ``export`` step: an ONNX graph of the current model, fused where exact, checked against PyTorch."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import ClassVar, Literal

from ..export.onnx import StaticCalibration, write_export
from ..export.openvino import write_openvino
from ..runtime.loading import load_exported
from ..prune.pipeline import timed
from .base import Stage, StepConfig, register_step
from .state import State


@dataclass(frozen=True)
class ExportStep(StepConfig):
    name: ClassVar[str] = "export"
    stage: ClassVar[Stage] = Stage.EXPORT

    format: Literal["onnx", "openvino"] = "onnx"


def export_current(
    state: State, *, int8: bool = False, static: StaticCalibration | None = None, runtime: str = "onnx"
) -> dict:
    """Export the state's model into its scratch folder (ONNX, or OpenVINO IR); the exported model
    becomes the deployed one. An earlier export of the same recipe is replaced."""
    folder = state.workdir / ("openvino" if runtime == "openvino" else "onnx")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    with timed(state.timings_s, "export"):
        if runtime == "openvino":
            report = write_openvino(state.model, folder, static)
            if state.tokenizer is not None:
                state.tokenizer.save_pretrained(folder)
        else:
            report = write_export(state.model, folder, tokenizer=state.tokenizer, int8=int8, static=static)
    state.export_dir, state.export_report = folder, report
    state.deployed = load_exported(folder)
    return {
        "file": report.file, "max_abs_diff": report.max_abs_diff, "int8_max_abs_diff": report.int8_max_abs_diff,
        "fp32_layers": report.fp32_layers,
    }


def run_export(state: State, config: ExportStep) -> dict:
    return export_current(state, runtime=config.format)


register_step(ExportStep, run_export)
