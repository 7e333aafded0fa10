"""What the steps of one recipe share, so that nothing is computed twice.

The state holds the model being compressed (and its adapter and task head), the tokenized
calibration batches, the Fisher statistics of the current model (computed when a step first
asks for them, dropped when a step changes the model), the reference the budgets are relative
to (the model the recipe started from), and what export and quantization produced.

Reconstruction does not keep the unpruned model's activations here: they grow with the sample
count, so ``prune.reconstruct`` recomputes them layer by layer within a fixed memory budget.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..export.onnx import ExportReport
from ..measure.cost import Reference, ResolvedBudget
from ..measure.latency import LatencySetting
from ..models.adapters import Adapter, get_adapter
from ..models.task_heads import TaskHead
from ..prune import DEFAULT_LAYER_FLOOR
from ..prune.fisher import MaskGradients, collect_mask_gradients
from ..prune.pipeline import select_units, timed
from ..prune.search import Selection
from ..runtime.backends import backend_of, backend_of_file


@dataclass
class State:
    model: Any  # the PyTorch model, changed in place by the structural steps
    tokenizer: Any
    workload: Any  # steps.workload.TaskWorkload or EmbeddingWorkload: the task, its data, how to load and save
    task_head: TaskHead
    calibration: list[dict]
    reference: Reference
    latency: LatencySetting
    workdir: Path  # scratch space for exports; the caller removes it
    max_length: int = 128  # tokens per example, as in calibration
    score: Callable[[Any], dict[str, float]] | None = None  # dev metrics of a model (training curves)
    original: Any = None  # the model the recipe started from, kept when a step needs it (a teacher)
    checkpoints: Any = None  # steps.checkpoints.Checkpoints, where training steps save each epoch
    step_index: int = 0  # the position in the recipe of the step being applied
    records: list = field(default_factory=list)  # the report's records of the steps applied so far
    resume: Any = None  # steps.checkpoints.Progress to continue the current step from
    progress: bool = True
    timings_s: dict[str, float] = field(default_factory=dict)  # seconds per phase, over all steps
    deployed: Any = None  # the model as it will run, once export or quantize made it
    export_dir: Path | None = None  # the ONNX export folder, once made
    export_report: ExportReport | None = None  # what that folder holds, and how close it is to PyTorch
    quantization: dict | None = None  # how the deployed PyTorch model was quantized
    judge_static: bool = True  # static int8 keeps in fp32 the layers that lose agreement (off for timing only)
    static_deadline: float | None = None  # a time.perf_counter() reading that fallback must stop by
    training_deadline: float | None = None  # a time.perf_counter() reading that distillation must stop by
    # The teacher's scores of each training example, per teacher and training set (steps.distill):
    # kept across steps and shared with forks, as the teacher and the text do not change.
    teacher_scores: dict = field(default_factory=dict)
    _gradients: MaskGradients | None = None
    _selections: dict = field(default_factory=dict)  # (budget, layer drop allowed) → prune.search.Selection

    @property
    def adapter(self) -> Adapter:
        return get_adapter(self.model)

    def gradients(self) -> MaskGradients:
        """Per-batch mask gradients of the current model on the calibration batches (computed once)."""
        if self._gradients is None:
            with timed(self.timings_s, "fisher"):
                self._gradients = collect_mask_gradients(self.adapter, self.calibration, self.task_head, self.progress)
        return self._gradients

    def selection(
        self, budget: ResolvedBudget, allow_layer_drop: bool = False, layer_floor: float = DEFAULT_LAYER_FLOOR,
        neuron_multiple: int = 1,
    ) -> Selection:
        """The units the current model keeps under ``budget``, searched once per budget: a price
        taken before pruning (the optimize search's) and the prune itself use the same masks."""
        key = (budget.budget, allow_layer_drop, layer_floor, neuron_multiple)
        if key not in self._selections:
            gradients = self.gradients()
            with timed(self.timings_s, "search"):
                self._selections[key] = select_units(gradients, budget, allow_layer_drop, layer_floor, neuron_multiple)
        return self._selections[key]

    def model_changed(self) -> None:
        """A step changed the model's structure: its statistics no longer describe it. (A new
        dict, not a cleared one: a state forked before the change still shares the old one.)"""
        self._gradients = None
        self._selections = {}

    @property
    def final_model(self):
        return self.deployed if self.deployed is not None else self.model

    @property
    def backend(self) -> str:
        """How the final model runs: the name of a backend of ``runtime.backends``."""
        if self.export_report is not None:
            return backend_of_file(self.export_report.file).name
        return backend_of("torch", "dynamic" if self.quantization else None).name
