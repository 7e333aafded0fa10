"""The ``export`` step: an ONNX graph of the current model, fused where exact, checked against PyTorch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from ..export.onnx import write_export
from ..export.onnx_model import OnnxClassifier
from ..prune.pipeline import timed
from .base import Stage, StepConfig, register_step
from .state import State


@dataclass(frozen=True)
class ExportStep(StepConfig):
    name: ClassVar[str] = "export"
    stage: ClassVar[Stage] = Stage.EXPORT

    format: Literal["onnx"] = "onnx"


def export_current(state: State, *, int8: bool = False) -> dict:
    """Export the state's model into its scratch folder; the ONNX model becomes the deployed one."""
    folder = state.workdir / "onnx"
    folder.mkdir()
    with timed(state.timings_s, "export"):
        report = write_export(state.model, folder, tokenizer=state.tokenizer, int8=int8)
    state.export_dir, state.export_report = folder, report
    state.deployed = OnnxClassifier(folder / report.file, state.model.config)
    return {"file": report.file, "max_abs_diff": report.max_abs_diff, "int8_max_abs_diff": report.int8_max_abs_diff}


def run_export(state: State, config: ExportStep) -> dict:
    return export_current(state)


register_step(ExportStep, run_export)
