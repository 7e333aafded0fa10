"""Running a recipe: load and check everything, measure the dense model, apply each step to one
shared state (scoring the model after each), measure the final model, and save it all at once.

Everything that can be refused is refused before the first slow operation: the output folder,
the model, its fit to the task, and the recipe against the model's layer count.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from ..data.calibration import Calibration, calibration_batches
from ..data.sources import DataSource, load_split
from ..data.tasks import get_task
from ..data.tokenize import mean_length
from ..errors import BertpressError
from ..export.onnx_model import OnnxClassifier
from ..measure.cost import Reference
from ..measure.evaluate import evaluate
from ..measure.latency import LatencySetting, measure_latency
from ..measure.macs import count_params, model_macs
from ..models.adapters import get_adapter
from ..models.heads import head_for
from ..models.loading import load_model, load_tokenizer
from ..models.saving import save_model
from ..models.shrink import pruning_spec, source_layers
from ..outputs import atomic_dir, check_output, write_json
from ..prune.pipeline import timed
from .base import apply_step
from .recipe import Recipe
from .report import CompressReport, Measurement, StepRecord
from .state import State


def compress(
    model: str,
    task: str,
    output: str | Path | None = None,
    *,
    recipe: Recipe,
    calibration: Calibration = Calibration(),
    data: DataSource = DataSource(),
    latency: LatencySetting = LatencySetting(),
    overwrite: bool = False,
    progress: bool = True,
) -> CompressReport:
    """Run ``recipe``'s steps in order on ``model`` for ``task``; save the result to ``output`` if given."""
    task_spec = get_task(task)
    if output is not None:
        check_output(output, overwrite=overwrite, inputs=[model])
    network = load_model(model)
    if isinstance(network, OnnxClassifier):
        raise BertpressError(f"{model} holds an ONNX export; compression starts from a PyTorch model folder")
    head = head_for(task_spec)
    head.check(network.config, task_spec.name)
    recipe.check_layers(get_adapter(network).num_layers)
    tokenizer = load_tokenizer(model)

    timings: dict[str, float] = {}
    with timed(timings, "prepare"):
        batches = calibration_batches(task_spec, tokenizer, data, calibration)
    dev = load_split(task_spec, "dev", data)
    seq_length = mean_length(batches)

    def score(candidate) -> dict[str, float]:
        return evaluate(candidate, tokenizer, task_spec, dev, max_length=calibration.max_length, progress=progress).metrics

    def measure(candidate, metrics: dict[str, float]) -> Measurement:
        """``candidate`` runs the (possibly compressed) ``network``: its shapes give MACs and parameters."""
        latency_ms = measure_latency(
            candidate, latency.batch_size, latency.seq_length, device=latency.device, threads=latency.threads,
            min_run_time=latency.min_run_time,
        )
        return Measurement(metrics, model_macs(get_adapter(network), seq_length), count_params(network), latency_ms)

    baseline = measure(network, score(network))
    adapter = get_adapter(network)
    reference = Reference(
        adapter.heads_per_layer(), adapter.neurons_per_layer(), baseline.params, baseline.latency_ms, seq_length
    )
    layers_before = source_layers(adapter)  # a model whose layers were dropped earlier names its originals
    with tempfile.TemporaryDirectory(prefix="bertpress-") as workdir:
        state = State(network, tokenizer, task_spec, head, batches, reference, latency, Path(workdir), progress, timings)
        records = []
        for config in recipe.steps:
            started = time.perf_counter()
            details = apply_step(state, config)
            seconds = round(time.perf_counter() - started, 3)
            macs, params = model_macs(state.adapter, seq_length), count_params(state.model)
            records.append(StepRecord(config.name, config.to_dict(), seconds, score(state.final_model), macs, params, details))
        final = measure(state.final_model, records[-1].metrics)
        timings["total"] = round(sum(timings.values()), 3)
        budgets = [record.details["budget"] for record in records if "budget" in record.details]
        report = CompressReport(
            task=task_spec.name,
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
        )
        if output is not None:
            with atomic_dir(output, overwrite=overwrite, inputs=[model]) as folder:
                save_state(state, recipe, report, folder)
    return report


def save_state(state: State, recipe: Recipe, report: CompressReport, folder: Path) -> None:
    """The PyTorch model at the top, the ONNX export (if any) in ``onnx/``, the recipe and the report."""
    if state.quantization:
        # Dynamic int8 needs no calibration: the folder keeps fp32 weights, loading quantizes them.
        spec = getattr(state.model.config, "bertpress", None) or pruning_spec(state.adapter)
        state.model.config.bertpress = {**spec, "quantization": state.quantization}
    save_model(state.model, state.tokenizer, folder)
    if state.export_dir is not None:
        shutil.copytree(state.export_dir, folder / "onnx")
    recipe.save(folder / "recipe.yaml")
    write_json(folder / "report.json", report.to_dict())
