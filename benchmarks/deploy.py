"""Deployment matrix: dense / pruned to 0.5 MACs / pruned to 0.5 latency × four backends.

    python benchmarks/deploy.py [--shared DIR] [--tasks mrpc,stsb,sst2]

For each shared teacher: every model on PyTorch fp32, PyTorch int8 (torchao), ONNX Runtime fp32
and ONNX Runtime int8, at batch 1 and 32, sequence length 128: latency, throughput, size on
disk and the dev metric. Speedups are against dense PyTorch fp32 at the same batch size, all
timed in this one process. Also checks the latency budget: the pruned model's measured latency
against the target it was pruned for.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _results import machine, markdown_table, shared_dir, write_section

from bertpress import api
from bertpress.data.sources import DataSource, load_split
from bertpress.data.tasks import get_task
from bertpress.measure.bench import BACKENDS, BackendModels
from bertpress.measure.evaluate import evaluate
from bertpress.measure.latency import measure_latency
from bertpress.models.loading import load_model, load_tokenizer
from bertpress.prune.pipeline import PruneConfig

BATCH_SIZES = (1, 32)
SEQ_LENGTH = 128


def task_rows(task: str, teacher: Path, data: DataSource, workdir: Path) -> tuple[list[list], list]:
    task_spec = get_task(task)
    tokenizer = load_tokenizer(str(teacher))
    dev = load_split(task_spec, "dev", data)
    models = {"dense": teacher}
    budget_row = []
    for name, config in (("pruned 0.5 MACs", PruneConfig(macs=0.5)), ("pruned 0.5 latency", PruneConfig(latency=0.5))):
        models[name] = workdir / name.replace(" ", "-")
        report = api.prune(str(teacher), task, models[name], config=config, data=data, progress=False)
        if config.latency is not None:
            target = report.budget["target_ms"]
            budget_row = [task, f"{report.baseline.latency_ms:.1f}", f"{target:.1f}", f"{report.pruned.latency_ms:.1f}",
                          f"{100 * (report.pruned.latency_ms / target - 1):+.1f}%", f"{report.macs_ratio:.3f}"]
    rows, reference = [], {}
    for name, folder in models.items():
        variants = BackendModels(load_model(str(folder)), workdir / f"{name.replace(' ', '-')}-backends")
        for backend, make in BACKENDS.items():
            network, size_mb = make(variants)
            score = 100 * evaluate(network, tokenizer, task_spec, dev, progress=False).metrics[task_spec.main_metric]
            for batch in BATCH_SIZES:
                latency_ms = measure_latency(network, batch, SEQ_LENGTH)
                reference.setdefault(batch, latency_ms)  # dense torch-fp32 comes first
                rows.append([task, name, backend, batch, f"{latency_ms:.1f}", f"{batch * 1e3 / latency_ms:.1f}",
                             f"{reference[batch] / latency_ms:.2f}x", f"{size_mb:.1f}", f"{score:.2f}"])
                print(" ".join(str(cell) for cell in rows[-1]), flush=True)
    return rows, budget_row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", help="folder with models/ and data/ (default $BERTPRESS_SHARED or ../shared)")
    parser.add_argument("--tasks", default="mrpc,stsb,sst2")
    args = parser.parse_args()
    shared = shared_dir(args.shared)
    data = DataSource(data_dir=str(shared / "data" / "glue"))
    rows, budgets = [], []
    with tempfile.TemporaryDirectory(prefix="bertpress-deploy-") as tmp:
        for task in args.tasks.split(","):
            task_dir = Path(tmp) / task
            task_dir.mkdir()
            task_table, budget_row = task_rows(task, shared / "models" / f"minilm-{task}", data, task_dir)
            rows += task_table
            budgets.append(budget_row)
    text = "\n\n".join([
        "## Deployment matrix (`benchmarks/deploy.py`)",
        f"Machine: {machine()}. Sequence length {SEQ_LENGTH}; speedup against dense PyTorch fp32 at the same batch "
        "size, all in one process; size is the weights as they run; metric is the task's main dev metric in points.",
        markdown_table(["task", "model", "backend", "batch", "latency ms", "seq/s", "speedup", "size MB", "dev metric"], rows),
        "### Latency budget 0.5 at batch 32: measured after pruning vs the target",
        markdown_table(["task", "dense ms", "target ms", "pruned ms", "off target", "MACs ratio"], budgets),
    ])
    write_section("deploy", text)


if __name__ == "__main__":
    main()
