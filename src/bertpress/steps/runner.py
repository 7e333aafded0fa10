"""Running a recipe: load and check everything, prepare one shared state and measure the dense
model (``prepare``, which the ``optimize`` search shares), apply each step to the state (scoring
the model after each), time the final model beside the dense one, and save it all at once.

Everything that can be refused is refused before the first slow operation: the output folder,
the model, its fit to the task, the recipe against the model's layer count, each step's own
inputs (a teacher, a text file) and the checkpoint folder.

Training steps checkpoint every epoch into ``checkpoints``; ``resume`` continues an interrupted
run from such a folder (the steps before the checkpoint are not redone). Under ``accelerate
launch`` every process runs the recipe; measuring, scoring and saving happen on the main one.
"""

from __future__ import annotations

import copy
import shutil
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from ..card import compress_card, folder_files, write_card
from ..data.calibration import Calibration
from ..data.sources import DataSource
from ..data.tokenize import mean_length
from ..distributed import is_main, on_main
from ..measure.cost import Reference
from ..measure.latency import LatencySetting, Timing, compare_latency
from ..measure.macs import count_params, model_macs
from ..models.adapters import get_adapter
from ..models.loading import load_tokenizer
from ..models.positions import check_max_length
from ..models.shrink import pruning_spec, source_layers
from ..models.static_embedder import StaticEmbedder, save_static
from ..outputs import atomic_dir, check_output, write_json
from ..prune.pipeline import timed
from ..reports import to_plain
from .base import apply_step
from .checkpoints import Checkpoints
from .recipe import Recipe
from .report import CompressReport, Measurement, StepRecord
from .state import State
from .workload import EmbeddingSetup, make_workload


def compress(
    model: str,
    task: str | None,
    output: str | Path | None = None,
    *,
    recipe: Recipe,
    calibration: Calibration = Calibration(),
    data: DataSource = DataSource(),
    latency: LatencySetting = LatencySetting(),
    overwrite: bool = False,
    progress: bool = True,
    checkpoints: str | Path | None = None,
    resume: str | Path | None = None,
    embedding: EmbeddingSetup | None = None,
    inputs: Iterable[str] = (),
) -> CompressReport:
    """Run ``recipe``'s steps in order on ``model`` for ``task``; save the result to ``output`` if given.

    ``checkpoints``: where training steps save each epoch (removed once the run succeeds);
    ``resume``: such a folder of an interrupted run with the same inputs, to continue from.
    ``embedding``: compress a sentence-embedding model from unlabeled text (``task`` may then be
    None, or name the task whose training sentences are the text).
    ``inputs``: further files the caller read (the recipe file), which ``output`` must not replace
    either; the model, the data, the text and each step's inputs are protected without being named.
    """
    workload = make_workload(task, data, embedding)
    calibration = calibration.for_task(workload.task)
    # A saved recipe's latency budget is measured where it was; else at the examples' length.
    latency = recipe.latency_setting(latency.at_length(calibration.max_length))
    recipe = recipe.pinned(latency)
    protected = [model, *workload.input_paths(), *recipe.input_paths(), *inputs]
    if output is not None:
        check_output(output, overwrite=overwrite, inputs=protected)
    network = workload.load(model)
    check_max_length(network.config, calibration.max_length, model)
    task_head = workload.task_head
    recipe.check_layers(get_adapter(network).num_layers)
    tokenizer = load_tokenizer(model)
    for config in recipe.steps:
        config.check_inputs(network, tokenizer, workload.task, task_head)
    saver, resumed = _checkpoints(model, workload, recipe, calibration, checkpoints, resume)

    timings: dict[str, float] = {}
    layers_before = source_layers(get_adapter(network))  # a model whose layers were dropped earlier names its originals
    with tempfile.TemporaryDirectory(prefix="bertpress-") as workdir:
        prepared = prepare(network, tokenizer, workload, calibration, latency, Path(workdir), progress=progress,
                           timings=timings, checkpoints=saver, time_dense=recipe.times_dense)
        state, seq_length, score = prepared.state, prepared.state.reference.seq_length, prepared.state.score
        if resumed is not None:
            state.original, state.model = network, workload.load(str(resumed.student))
            state.records, state.resume = resumed.records, resumed
            timings.update(resumed.timings_s)
        for index, config in enumerate(recipe.steps):
            if index < len(state.records):
                continue  # finished before the checkpoint this run resumed from
            state.step_index = index
            started = time.perf_counter()
            details = apply_step(state, config)
            seconds = round(time.perf_counter() - started, 3)
            macs, params = model_macs(state.adapter, seq_length), count_params(state.model)
            metrics = on_main(lambda: score(state.final_model))
            state.records.append(StepRecord(config.name, config.to_dict(), seconds, metrics, macs, params, details))
        records = state.records
        baseline, final = on_main(lambda: measure_side_by_side(prepared, records[-1].metrics))
        timings["total"] = round(sum(value for key, value in timings.items() if key != "total"), 3)
        budgets = [record.details["budget"] for record in records if "budget" in record.details]
        report = CompressReport(
            task=workload.name,
            model=str(model),
            recipe=recipe.to_dict(),
            calibration=calibration,
            budget=budgets[-1] if budgets else None,
            baseline=baseline,
            pruned=final,
            backend=state.backend,
            heads_per_layer=state.adapter.heads_per_layer(),
            neurons_per_layer=state.adapter.neurons_per_layer(),
            dropped_layers=sorted(set(layers_before) - set(source_layers(state.adapter))),
            timings_s=timings,
            macs_seq_length=round(seq_length, 2),
            latency=latency,
            steps=records,
            calibration_source=workload.calibration_source,
        )
        if output is not None and is_main():
            with atomic_dir(output, overwrite=overwrite, inputs=protected) as folder:
                save_state(state, recipe, report.to_dict(), folder)
    if saver is not None:
        saver.remove()
    return report


@dataclass
class Prepared:
    """What every run on a model starts from (``compress``, and the ``optimize`` search)."""

    state: State  # the model, its calibration batches, scorer and reference, and a copy of it (``original``)
    baseline: Measurement  # the dense model: dev metrics, MACs, parameters, latency timed alone (if asked)


def prepare(network, tokenizer, workload, calibration: Calibration, latency: LatencySetting, workdir: Path, *,
            progress: bool, timings: dict[str, float], checkpoints: Checkpoints | None = None,
            time_dense: bool = False) -> Prepared:
    """Calibration batches, the scorer and the dense model's measurement, in one state whose
    ``original`` is a copy of the dense model (a teacher, and what the final model is timed beside).

    ``time_dense``: time the dense model now (a latency budget is a share of it). Otherwise its
    latency is left out here: it is timed beside the final model anyway, and at base size each
    timing round is a forward pass of many seconds."""
    with timed(timings, "prepare"):
        batches = workload.prepare(network, tokenizer, calibration)
    # A QA window is priced full (its task says so); sentences at the calibration's mean length.
    seq_length = calibration.max_length if workload.task.priced_at_max_length else mean_length(batches)
    score = workload.scorer(tokenizer, calibration.max_length, progress and is_main())
    def dense_measurement() -> Measurement:
        metrics = score(network)
        timing = compare_latency({"dense": network}, latency)["dense"] if time_dense else None
        return measurement(network, metrics, seq_length, timing)

    baseline = on_main(dense_measurement)
    adapter = get_adapter(network)
    reference = Reference(
        adapter.heads_per_layer(), adapter.neurons_per_layer(), baseline.params, baseline.latency_ms, seq_length
    )
    state = State(
        network, tokenizer, workload, workload.task_head, batches, reference, latency, workdir,
        max_length=calibration.max_length, score=score, original=copy.deepcopy(network),
        checkpoints=checkpoints, progress=progress, timings_s=timings,
    )
    return Prepared(state, baseline)


def measurement(model, metrics: dict[str, float], seq_length: float, timing: Timing | None) -> Measurement:
    """``model``'s MACs and parameters (the PyTorch model), with the metrics and timing of how it runs."""
    return Measurement(
        metrics, model_macs(get_adapter(model), seq_length), count_params(model),
        None if timing is None else timing.median_ms, None if timing is None else timing.spread_ms,
    )


def measure_side_by_side(prepared: Prepared, metrics: dict[str, float]) -> tuple[Measurement, Measurement]:
    """The dense model's measurement and the final one's (with ``metrics``), the two timed in turn
    (``compare_latency``) so that their ratio, the speedup, met the same machine load."""
    state = prepared.state
    timings = compare_latency({"dense": state.original, "final": state.final_model}, state.latency)
    dense = timings["dense"]
    baseline = replace(prepared.baseline, latency_ms=dense.median_ms, latency_spread_ms=dense.spread_ms)
    return baseline, measurement(state.model, metrics, state.reference.seq_length, timings["final"])


def _checkpoints(model, workload, recipe, calibration, checkpoints, resume):
    """The checkpoint keeper of a recipe with training steps, and the progress to resume from."""
    if resume is None and (checkpoints is None or not any(step.trains for step in recipe.steps)):
        return None, None
    fingerprint = {
        "model": str(Path(model).resolve()) if Path(model).exists() else str(model),
        **workload.fingerprint(),
        "recipe": recipe.to_dict(),
        "calibration": to_plain(calibration),
    }
    saver = Checkpoints(Path(resume if resume is not None else checkpoints), fingerprint)
    if resume is not None:
        return saver, saver.read()
    saver.check_fresh()
    return saver, None


def save_state(state: State, recipe: Recipe, report: dict, folder: Path) -> None:
    """The PyTorch model at the top, the export (if any) in ``onnx/`` or ``openvino/``, the recipe, the
    report and the model card (README.md, which covers the export too)."""
    if state.quantization:
        # Dynamic int8 needs no calibration: the folder keeps fp32 weights, loading quantizes them.
        spec = getattr(state.model.config, "bertpress", None) or pruning_spec(state.adapter)
        state.model.config.bertpress = {**spec, "quantization": state.quantization}
    if isinstance(state.deployed, StaticEmbedder):  # a static distillation replaced the whole encoder
        save_static(state.deployed, state.tokenizer, folder)
    else:
        state.workload.save(state.model, state.tokenizer, folder)
    if state.export_dir is not None:
        shutil.copytree(state.export_dir, folder / state.export_dir.name)  # onnx/ or openvino/
    recipe.save(folder / "recipe.yaml")
    write_json(folder / "report.json", report)
    write_card(folder, compress_card(report, recipe.to_dict(), folder_files(folder)))
