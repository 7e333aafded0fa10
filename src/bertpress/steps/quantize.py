"""The ``quantize`` step: int8 through ONNX Runtime (the graph, exported first if no ``export``
step came before) or through torchao (the PyTorch model; dynamic int8 needs no calibration, so
the saved folder keeps fp32 weights and ``bertpress.load`` quantizes them again).

``mode: static`` (ONNX Runtime, or OpenVINO through NNCF) calibrates activation ranges on the
recipe's calibration batches (a sentence embedder's: its text), so activations run in int8 too
(attention's products as well, except in OpenVINO's fused attention op); layers whose int8 form
disagrees with the fp32 model by more than ``tolerance`` points (on other calibration batches)
stay fp32.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import ClassVar, Literal

from ..data.calibration import Calibration
from ..errors import BertpressError
from ..export.onnx import StaticCalibration, input_names, quantize_export, quantize_export_static, static_feeds
from ..runtime.backends import backend_of
from ..runtime.loading import exported_model
from ..measure.agreement import AgreementProxy
from ..prune.pipeline import timed
from ..quantize import Int8Dynamic, OnnxInt8Static, quantize
from .base import Stage, StepConfig, register_step
from .export import export_current
from .state import State


@dataclass(frozen=True)
class QuantizeStep(StepConfig):
    name: ClassVar[str] = "quantize"
    stage: ClassVar[Stage] = Stage.QUANTIZE

    backend: Literal["onnx", "torch", "openvino"] = "onnx"
    mode: Literal["dynamic", "static"] = "dynamic"
    tolerance: float = 1.0  # static: points of agreement with fp32 a layer may cost before it stays fp32

    def __post_init__(self):
        if self.mode == "static" and self.backend == "torch":
            raise BertpressError("static int8 runs in ONNX Runtime or OpenVINO: use backend onnx or openvino")
        if self.backend == "openvino" and self.mode != "static":
            raise BertpressError("OpenVINO int8 is calibrated: use mode static with backend openvino")
        if not self.tolerance >= 0:
            raise BertpressError(f"the static int8 tolerance must be at least 0 points, got {self.tolerance}")

    def check_follows(self, before: StepConfig, number: int) -> None:
        if self.backend == "torch" and before.stage == Stage.EXPORT:
            raise BertpressError(
                f"step {number} 'quantize' with backend torch cannot follow 'export': it quantizes the PyTorch model"
            )
        if before.stage == Stage.EXPORT and getattr(before, "format", "onnx") != self.backend:
            raise BertpressError(
                f"step {number} 'quantize' with backend {self.backend} cannot follow an export to {before.format}"
            )


def run_quantize(state: State, config: QuantizeStep) -> dict:
    if config.backend == "torch":
        with timed(state.timings_s, "quantize"):
            state.deployed = quantize(copy.deepcopy(state.model), Int8Dynamic())
        state.quantization = {"backend": "torch", "mode": config.mode}
        return {"backend": backend_of("torch", "dynamic").name}
    static = None
    if config.mode == "static":
        static = static_calibration(
            state.model, state.task_head, state.calibration, config.tolerance, state.judge_static, state.static_deadline
        )
    if state.export_dir is None or config.backend == "openvino":  # OpenVINO int8 is made from the model
        return export_current(state, backend_of(config.backend, config.mode), static)
    with timed(state.timings_s, "quantize"):
        if static is not None:
            report = quantize_export_static(state.model, state.export_dir, state.export_report, static)
        else:
            report = quantize_export(state.model, state.export_dir, state.export_report)
    state.export_report = report
    state.deployed = exported_model(state.export_dir / report.file, state.model.config)
    return {
        "file": report.file, "int8_max_abs_diff": report.int8_max_abs_diff, "fp32_layers": report.fp32_layers,
        "fallback_cut_short": report.fallback_cut_short,
    }


STATIC_SAMPLES = 256  # calibration examples whose activation ranges static int8 takes
# Texts an embedder's static int8 is calibrated on where no recipe gives batches (export, bench):
# every fourth batch of them gives STATIC_SAMPLES' ranges, another fourth judges.
STATIC_TEXTS = 4 * STATIC_SAMPLES


def text_batches(workload, model, tokenizer, max_length: int) -> list[dict]:
    """Calibration batches of an ``EmbeddingWorkload``'s text for the sentence embedder ``model``:
    what a recipe's static int8 calibrates on, without a recipe."""
    return workload.prepare(model, tokenizer, Calibration(num_samples=STATIC_TEXTS, max_length=max_length))


def static_calibration(
    model, task_head, calibration: list[dict], tolerance: float = OnnxInt8Static.tolerance, judge: bool = True,
    deadline: float | None = None,
) -> StaticCalibration:
    """Ranges from every fourth of ``model``'s ``calibration`` batches, judged (with ``judge``) on
    another fourth against the fp32 model (batches are sorted by length: both spread over every
    length); ``deadline``: when the per-layer fallback must stop."""
    calibrating, judging = calibration[::4], calibration[2::4]
    proxy = AgreementProxy(model, task_head, judging or calibration).loss if judge else None
    return StaticCalibration(
        static_feeds(calibrating, input_names(model), STATIC_SAMPLES),
        judge=proxy,
        config=OnnxInt8Static(tolerance=tolerance),
        deadline=deadline,
    )


register_step(QuantizeStep, run_quantize)
