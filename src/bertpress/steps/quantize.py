"""The ``quantize`` step: int8 through ONNX Runtime (the graph, exported first if no ``export``
step came before) or through torchao (the PyTorch model; dynamic int8 needs no calibration, so
the saved folder keeps fp32 weights and ``bertpress.load`` quantizes them again)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import ClassVar, Literal

from ..errors import BertpressError
from ..export.onnx import quantize_export
from ..export.onnx_model import OnnxClassifier
from ..prune.pipeline import timed
from ..quantize import Int8Dynamic, quantize
from .base import Stage, StepConfig, register_step
from .export import export_current
from .state import State


@dataclass(frozen=True)
class QuantizeStep(StepConfig):
    name: ClassVar[str] = "quantize"
    stage: ClassVar[Stage] = Stage.QUANTIZE

    backend: Literal["onnx", "torch"] = "onnx"
    mode: Literal["dynamic"] = "dynamic"

    def check_follows(self, before: StepConfig, number: int) -> None:
        if self.backend == "torch" and before.stage == Stage.EXPORT:
            raise BertpressError(
                f"step {number} 'quantize' with backend torch cannot follow 'export': it quantizes the PyTorch model"
            )


def run_quantize(state: State, config: QuantizeStep) -> dict:
    if config.backend == "torch":
        with timed(state.timings_s, "quantize"):
            state.deployed = quantize(copy.deepcopy(state.model), Int8Dynamic())
        state.quantization = {"backend": "torch", "mode": config.mode}
        return {"backend": "torch-int8"}
    if state.export_dir is None:
        return export_current(state, int8=True)
    with timed(state.timings_s, "quantize"):
        report = quantize_export(state.model, state.export_dir, state.export_report)
    state.export_report = report
    state.deployed = OnnxClassifier(state.export_dir / report.file, state.model.config)
    return {"file": report.file, "int8_max_abs_diff": report.int8_max_abs_diff}


register_step(QuantizeStep, run_quantize)
