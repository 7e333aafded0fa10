"""Deployment matrix: dense / pruned to 0.5 MACs / pruned to 0.5 latency × four backends, through
``bertpress.api`` and recipes.

    python benchmarks/deploy.py [--shared DIR] [--tasks mrpc,stsb,sst2]

For each shared teacher: every model on PyTorch fp32, PyTorch int8 (torchao), ONNX Runtime fp32
and ONNX Runtime int8, at batch 1 and 32, sequence length 128: latency, throughput, size of the
weights as they run (``api.bench`` with all backends, side by side in this process) and the dev
metric (each backend made by a recipe: ``quantize`` torch, ``export``, ``quantize`` onnx).
Speedups are against dense PyTorch fp32 at the same batch size. Also checks the latency budget:
the pruned model's measured latency against the target it was pruned for.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _results import machine, markdown_table, shared_dir, write_section

from bertpress import api
from bertpress.data.tasks import get_task

BATCH_SIZES = (1, 32)
SEQ_LENGTH = 128
# The recipe that turns a PyTorch model into each backend (None: the model as it is).
BACKEND_RECIPES = {
    "torch-fp32": None,
    "torch-int8": api.Recipe.of(api.QuantizeStep(backend="torch")),
    "onnx-fp32": api.Recipe.of(api.ExportStep()),
    "onnx-int8": api.Recipe.of(api.QuantizeStep(backend="onnx")),
}


def dev_metric(folder: Path, task: str, backend: str, data: api.DataSource) -> float:
    metric = get_task(task).main_metric
    recipe = BACKEND_RECIPES[backend]
    if recipe is None:
        return api.evaluate(str(folder), task, data=data, progress=False).metrics[metric]
    report = api.compress(str(folder), task, recipe=recipe, data=data, calibration=api.Calibration(num_samples=32),
                          progress=False)
    return report.pruned.metrics[metric]


def task_rows(task: str, teacher: Path, data: api.DataSource, workdir: Path) -> tuple[list[list], list]:
    models = {"dense": teacher}
    budget_row = []
    for name, step in (("pruned 0.5 MACs", api.PruneStep(macs=0.5)), ("pruned 0.5 latency", api.PruneStep(latency=0.5))):
        models[name] = workdir / name.replace(" ", "-")
        report = api.prune(str(teacher), task, models[name], config=step, data=data, progress=False)
        if step.latency is not None:
            target = report.steps[0].details["target_ms"]
            budget_row = [task, f"{report.baseline.latency_ms:.1f}", f"{target:.1f}", f"{report.pruned.latency_ms:.1f}",
                          f"{100 * (report.pruned.latency_ms / target - 1):+.1f}%", f"{report.macs_ratio:.3f}"]
    rows, reference = [], {}
    for name, folder in models.items():
        scores = {backend: dev_metric(folder, task, backend, data) for backend in BACKEND_RECIPES}
        timing = api.bench(str(folder), BATCH_SIZES, SEQ_LENGTH, backends=list(BACKEND_RECIPES), progress=False)
        for row in (row for row in timing.results if row.model != "dense"):  # the teacher has rows of its own
            reference.setdefault(row.batch_size, row.latency_ms)  # dense torch-fp32 comes first
            rows.append([task, name, row.backend, row.batch_size, f"{row.latency_ms:.1f}", f"{row.throughput:.1f}",
                         f"{reference[row.batch_size] / row.latency_ms:.2f}x", f"{row.size_mb:.1f}",
                         f"{scores[row.backend]:.2f}"])
            print(" ".join(str(cell) for cell in rows[-1]), flush=True)
    return rows, budget_row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", help="folder with models/ and data/ (default $BERTPRESS_SHARED or ../shared)")
    parser.add_argument("--tasks", default="mrpc,stsb,sst2")
    args = parser.parse_args()
    shared = shared_dir(args.shared)
    data = api.DataSource(data_dir=str(shared / "data" / "glue"))
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
