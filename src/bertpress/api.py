"""The public verbs. The CLI only parses arguments, calls these and prints what they return."""

from __future__ import annotations

import time
from pathlib import Path

from .data.sampling import sample
from .data.sources import DataSource, load_split
from .data.tasks import Task, get_task
from .data.tokenize import batches, encode
from .errors import BertpressError
from .measure.evaluate import check_model_fits_task, evaluate
from .measure.latency import measure_latency
from .measure.latency_table import latency_table
from .measure.macs import count_params, model_macs
from .models.adapters import Adapter, get_adapter
from .models.loading import load_model, load_tokenizer
from .models.saving import save_model
from .outputs import atomic_dir, write_json
from .prune.pipeline import LatencyBudget, PruneConfig, mean_length, prune_in_place
from .prune.report import LatencySetting, Measurement, PruneReport


def prune(
    model: str,
    task: str,
    output: str | Path | None = None,
    *,
    config: PruneConfig,
    data: DataSource = DataSource(),
    max_length: int = 128,
    latency: LatencySetting = LatencySetting(),
    progress: bool = True,
) -> PruneReport:
    """Prune ``model`` for ``task`` under ``config``'s budget; save it to ``output`` if given.

    A latency budget is a fraction of the dense model's latency measured here, at ``latency``'s
    batch size and sequence length, on its device.

    The saved folder loads with ``bertpress.load`` and with stock transformers
    (``trust_remote_code=True``), and holds ``report.json``.
    """
    task_spec = get_task(task)
    network = load_model(model)
    adapter = get_adapter(network)
    check_model_fits_task(network, task_spec)
    tokenizer = load_tokenizer(model)

    started = time.perf_counter()
    calibration = calibration_batches(task_spec, tokenizer, data, config, max_length)
    timings = {"prepare": round(time.perf_counter() - started, 3)}
    dev = load_split(task_spec, "dev", data)
    seq_length = mean_length(calibration)

    def measure() -> Measurement:
        result = evaluate(network, tokenizer, task_spec, dev, max_length=max_length, progress=progress)
        return _measurement(adapter, result.metrics, seq_length, latency)

    baseline = measure()
    latency_budget = None
    if config.latency is not None:
        started = time.perf_counter()
        latency_budget = _latency_budget(adapter, config.latency, baseline.latency_ms, latency, progress)
        timings["latency_table"] = round(time.perf_counter() - started, 3)  # near zero once cached
    outcome = prune_in_place(adapter, calibration, config, progress, latency_budget)
    after = measure()
    timings.update(outcome.timings_s)
    timings["total"] = round(sum(timings.values()), 3)
    report = PruneReport(
        task=task_spec.name,
        model=str(model),
        budget=_budget_dict(config, baseline, latency),
        baseline=baseline,
        pruned=after,
        heads_per_layer=adapter.heads_per_layer(),
        neurons_per_layer=adapter.neurons_per_layer(),
        timings_s=timings,
        macs_seq_length=round(seq_length, 2),
        latency=latency,
        config=config.to_dict(),
    )
    if output is not None:
        with atomic_dir(output) as folder:
            save_model(network, tokenizer, folder)
            write_json(folder / "report.json", report.to_dict())
    return report


def calibration_batches(task: Task, tokenizer, data: DataSource, config: PruneConfig, max_length: int = 128) -> list[dict]:
    """``config.num_samples`` seeded training examples in length-sorted, padded batches."""
    calibration = sample(load_split(task, "train", data), config.num_samples, config.seed)
    if len(calibration) < config.batch_size:
        raise BertpressError(f"only {len(calibration)} training examples, fewer than one batch of {config.batch_size}")
    return batches(encode(calibration, tokenizer, max_length), tokenizer, config.batch_size, sort_by_length=True)


def _latency_budget(
    adapter: Adapter, ratio: float, dense_ms: float, latency: LatencySetting, progress: bool
) -> LatencyBudget:
    """What the encoder layers may take: the target minus the model's other parts (embeddings,
    classifier head, framework overhead), which is the dense latency the table does not explain."""
    table = latency_table(
        adapter, latency.batch_size, latency.seq_length, device=latency.device, threads=latency.threads, progress=progress
    )
    target_ms = ratio * dense_ms
    other_ms = dense_ms - table.encoder_ms(adapter.heads_per_layer(), adapter.neurons_per_layer())
    encoder_ms = target_ms - max(other_ms, 0.0)
    if encoder_ms <= 0:
        raise BertpressError(f"a latency of {target_ms:.1f} ms is below what the model's non-encoder parts take")
    return LatencyBudget(table, encoder_ms)


def _budget_dict(config: PruneConfig, baseline: Measurement, latency: LatencySetting) -> dict:
    if config.macs is not None:
        return {"macs_ratio": config.macs}
    return {
        "latency_ratio": config.latency,
        "target_ms": round(config.latency * baseline.latency_ms, 3),
        "batch_size": latency.batch_size,
        "seq_length": latency.seq_length,
        "device": latency.device,
    }


def _measurement(adapter: Adapter, metrics: dict, seq_length: float, latency: LatencySetting) -> Measurement:
    return Measurement(
        metrics=metrics,
        macs=model_macs(adapter, seq_length),
        params=count_params(adapter.model),
        latency_ms=measure_latency(
            adapter.model, latency.batch_size, latency.seq_length, device=latency.device, threads=latency.threads
        ),
    )


__all__ = ["DataSource", "LatencySetting", "PruneConfig", "prune"]
