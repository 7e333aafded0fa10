"""Prune the shared MiniLM teachers and write benchmarks/RESULTS.md, all through ``bertpress.api``.

    python benchmarks/prune_glue.py [--shared DIR] [--tasks mrpc,stsb,sst2,rte] [--ratios 0.4,0.5,0.6,0.7]
                                    [--ablation] [--layers]

- sweep: per task and MACs ratio, dev metric before and after, MACs ratio, CPU speedup at batch 1
  and 32 (sequence 128, dense and pruned benchmarked side by side in this process), seconds per phase;
- ``--ablation``: at 0.5 of the MACs, search only, + rearrangement, + scale tuning (the paper),
  + weight refit (ours), each a prune with those settings;
- ``--layers``: at 0.5 of the MACs, heads and neurons only, whole layers only (``fisher``, ``top``,
  ``alternate``; 3 of 6 layers is exactly half the MACs) and the search allowed to drop layers too.

Runs are kept in benchmarks/prune_glue.json by (table, task, variant): a run replaces the earlier
run of the same cell and leaves the others, and every row says the date it was measured.
"""

from __future__ import annotations

import argparse
import datetime
import json
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from _results import RESULTS, machine, markdown_table, shared_dir, verdict, write_section  # noqa: E402

from bertpress import api  # noqa: E402
from bertpress.data.tasks import get_task  # noqa: E402

STORE = RESULTS.with_name("prune_glue.json")

# Kwon et al.'s code run unchanged on these teachers (2,048 samples, seed 0, this CPU): drops in
# points at MACs ratios 0.7 / 0.6 / 0.5, and its prune time in seconds (from the issue).
REFERENCE = {
    "mrpc": ({0.7: -0.2, 0.6: -1.7, 0.5: -2.7}, 170),
    "stsb": ({0.7: -0.7, 0.6: -1.4, 0.5: -2.1}, 145),
    "sst2": ({0.7: 0.0, 0.6: 0.2, 0.5: -1.0}, 80),
}

ABLATION = {
    "search only": (api.PruneStep(macs=0.5, rearrange=False, tune=False),),
    "+ rearrangement": (api.PruneStep(macs=0.5, tune=False),),
    "+ scale tuning (paper)": (api.PruneStep(macs=0.5, reconstruct="scales"),),
    "+ weight refit (ours)": (api.PruneStep(macs=0.5),),
}

LAYERS = {  # heads and neurons only is the sweep's 0.5 row, shown beside these
    "layers only (fisher)": (api.DropLayersStep(count=3, strategy="fisher"),),
    "layers only (top)": (api.DropLayersStep(count=3, strategy="top"),),
    "layers only (alternate)": (api.DropLayersStep(count=3, strategy="alternate"),),
    "search may drop layers": (api.PruneStep(macs=0.5, allow_layer_drop=True),),
}


def run(task: str, shared: Path, steps: tuple) -> dict:
    """Compress the teacher with ``steps``; benchmark dense and compressed at batch 1 and 32."""
    teacher = shared / "models" / f"minilm-{task}"
    data = api.DataSource(data_dir=str(shared / "data" / "glue"))
    metric = get_task(task).main_metric
    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp) / "model"
        report = api.compress(str(teacher), task, output, recipe=api.Recipe.of(*steps), data=data, progress=False)
        dense, compressed = (api.bench(str(folder), (1, 32), progress=False) for folder in (teacher, output))
    speedups = {d.batch_size: d.latency_ms / c.latency_ms for d, c in zip(dense.results, compressed.results)}
    result = {
        "task": task, "metric": metric, "date": datetime.date.today().isoformat(),
        "before": report.baseline.metrics[metric], "after": report.pruned.metrics[metric],
        "macs_ratio": report.macs_ratio, "speedup_b1": speedups[1], "speedup_b32": speedups[32],
        "timings_s": report.timings_s, "heads_per_layer": report.heads_per_layer,
        "neurons_per_layer": report.neurons_per_layer, "dropped_layers": report.dropped_layers,
    }
    print(f"{task} {[step.name for step in steps]}: {metric} {result['before']:.2f} -> {result['after']:.2f}, "
          f"speedup b32 {speedups[32]:.2f}x, {report.timings_s['total']:.0f} s", flush=True)
    return result


def load_store() -> dict:
    return json.loads(STORE.read_text()) if STORE.is_file() else {}


def save_run(store: dict, table: str, task: str, variant, result: dict) -> None:
    """Keep ``result`` as the run of this cell, replacing an earlier one."""
    runs = [r for r in store.setdefault(table, []) if (r["task"], r["variant"]) != (task, variant)]
    store[table] = runs + [{**result, "variant": variant}]
    store["machine"] = machine()
    STORE.write_text(json.dumps(store, indent=2) + "\n")


def sweep_row(r: dict) -> list:
    reference = REFERENCE.get(r["task"], ({}, None))[0].get(r["variant"])
    t = r["timings_s"]
    return [
        r["variant"], f"{r['before']:.2f}", f"{r['after']:.2f}", f"{r['after'] - r['before']:+.2f}",
        "" if reference is None else f"{reference:+.1f}",
        f"{r['macs_ratio']:.3f}", f"{r['speedup_b1']:.2f}x", f"{r['speedup_b32']:.2f}x",
        *(f"{t.get(phase, 0.0):.1f}" for phase in ("prepare", "fisher", "search", "rearrange", "tune", "total")),
        r["date"],
    ]


def target_rows(runs: list[dict]) -> list[list]:
    """The targets of the pruning issue against the stored runs (MRPC, STS-B and SST-2)."""
    graded = [r for r in runs if r["task"] in REFERENCE]
    rows = []
    for ratio, limit, reference in ((0.6, 0.7, 1.0), (0.5, 1.5, 1.95)):
        drops = [r["before"] - r["after"] for r in graded if r["variant"] == ratio]
        if len(drops) == len(REFERENCE):
            mean = sum(drops) / len(drops)
            rows.append([f"mean drop at {ratio} MACs (points)", f"<= {limit} (reference {reference})",
                         f"{mean:.2f}", verdict(mean <= limit)])
    for r in (r for r in runs if r["variant"] == 0.5):
        reference_time = REFERENCE.get(r["task"], ({}, None))[1]
        limit = min(120, reference_time) if reference_time else 120
        total = r["timings_s"]["total"]
        rows.append([f"{r['task']} prune time at 0.5 (s)", f"<= {limit}", f"{total:.0f}", verdict(total <= limit)])
        rows.append([f"{r['task']} speedup at 0.5, batch 32", ">= 1.7x", f"{r['speedup_b32']:.2f}x",
                     verdict(r["speedup_b32"] >= 1.7)])
    return rows


def plot(runs: list[dict], path: Path) -> None:
    """Dev-metric change against the MACs ratio, ours (solid) and the reference code (dashed)."""
    figure, axes = plt.subplots(figsize=(6, 4))
    for task in dict.fromkeys(r["task"] for r in runs):
        mine = sorted((r["variant"], r["after"] - r["before"]) for r in runs if r["task"] == task)
        line, = axes.plot(*zip(*mine), marker="o", label=f"{task} (bertpress)")
        reference = sorted(REFERENCE.get(task, ({}, None))[0].items())
        if reference:
            axes.plot(*zip(*reference), linestyle="--", marker="x", color=line.get_color(), label=f"{task} (reference)")
    axes.axhline(0, color="grey", linewidth=0.5)
    axes.set_xlabel("MACs kept (ratio)")
    axes.set_ylabel("dev metric change (points)")
    axes.set_title("Retraining-free pruning of MiniLM teachers")
    axes.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


SWEEP_HEADERS = ["MACs", "before", "after", "change", "reference change", "MACs ratio", "speedup b1", "speedup b32",
                 "prepare s", "fisher s", "search s", "rearrange s", "tune s", "total s", "measured"]


def write_sweep(store: dict) -> None:
    runs = sorted(store.get("sweep", []), key=lambda r: (list(REFERENCE).index(r["task"]) if r["task"] in REFERENCE
                                                          else len(REFERENCE), r["task"], r["variant"]))
    sections = [f"Machine: {store['machine']}. 2,048 calibration samples, seed 0, default settings "
                "(rearrangement on, weight refit). Speedups: dense / pruned latency at sequence length 128, "
                "both timed in the same process. 'change' is pruned minus dense, in points of the task's main "
                "dev metric (negative = a loss); 'reference' is Kwon et al.'s code on the same teachers (from "
                "the issue). A drop in the targets table is dense minus pruned (negative = the pruned model scored higher).",
                "### Targets (from the pruning issue)\n\n" + markdown_table(["target", "goal", "measured", ""], target_rows(runs))]
    for task in dict.fromkeys(r["task"] for r in runs):
        task_runs = [r for r in runs if r["task"] == task]
        reference_time = REFERENCE.get(task, ({}, None))[1]
        note = f" (reference prune time ~{reference_time} s)" if reference_time else ""
        sections.append(f"### {task.upper()} ({task_runs[0]['metric']}){note}\n\n"
                        + markdown_table(SWEEP_HEADERS, [sweep_row(r) for r in task_runs]))
    plot(runs, RESULTS.with_name("prune_glue.png"))
    sections.append("![dev metric change against MACs ratio](prune_glue.png)")
    write_section("prune_glue", "## Pruning the shared teachers (`benchmarks/prune_glue.py`)\n\n" + "\n\n".join(sections))


def write_variants(store: dict, table: str, title: str, intro: str, runs: list[dict] | None = None) -> None:
    def times(value) -> str:  # runs migrated from before the store kept speedups have none
        return "" if value is None else f"{value:.2f}x"

    rows = [[r["task"], r["variant"], f"{r['after']:.2f}", f"{r['after'] - r['before']:+.2f}", f"{r['macs_ratio']:.3f}",
             times(r.get("speedup_b1")), times(r.get("speedup_b32")),
             f"{r['timings_s']['total']:.0f}" if "total" in r["timings_s"] else "",
             str(r.get("dropped_layers") or ""), r["date"]] for r in runs or store.get(table, [])]
    headers = ["task", "variant", "dev metric", "change", "MACs ratio", "speedup b1", "speedup b32", "seconds",
               "dropped layers", "measured"]
    write_section(f"prune_glue_{table}", f"## {title}\n\nMachine: {store['machine']}. {intro}\n\n" + markdown_table(headers, rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", help="folder with models/ and data/ (default $BERTPRESS_SHARED or ../shared)")
    parser.add_argument("--tasks", default="mrpc,stsb,sst2,rte")
    parser.add_argument("--ratios", default="0.4,0.5,0.6,0.7", help="the sweep's MACs ratios ('' for none)")
    parser.add_argument("--ablation", action="store_true", help="also the ablation at 0.5")
    parser.add_argument("--layers", action="store_true", help="also layer dropping against head/neuron pruning at 0.5")
    args = parser.parse_args()
    shared = shared_dir(args.shared)
    tasks = [task for task in args.tasks.split(",") if task]  # none: only rewrite the tables
    torch.manual_seed(0)
    store = load_store()
    for task in tasks:
        for ratio in (float(r) for r in args.ratios.split(",") if r):
            save_run(store, "sweep", task, ratio, run(task, shared, (api.PruneStep(macs=ratio),)))
        for enabled, table, variants in ((args.ablation, "ablation", ABLATION), (args.layers, "layers", LAYERS)):
            for name, steps in variants.items() if enabled else ():
                save_run(store, table, task, name, run(task, shared, steps))
    write_sweep(store)
    write_variants(store, "ablation", "Ablation at 0.5 of the MACs (`prune_glue.py --ablation`)",
                   "Each row is a prune with some phases off; change is against the dense teacher.")
    layer_tasks = {r["task"] for r in store.get("layers", [])}
    heads_and_neurons = [{**r, "variant": "heads + neurons"} for r in store.get("sweep", [])
                         if r["variant"] == 0.5 and r["task"] in layer_tasks]
    write_variants(store, "layers", "Whole layers or heads and neurons, at 0.5 of the MACs (`prune_glue.py --layers`)",
                   "Dropping 3 of the 6 layers keeps exactly half of the encoder's MACs. 'heads + neurons' is the "
                   "default prune (the sweep's 0.5 row); 'layers only' drops layers with no reconstruction; 'search "
                   "may drop layers' lets the Fisher search trade a whole layer against heads and neurons "
                   "(`prune --allow-layer-drop`).",
                   sorted(heads_and_neurons + store.get("layers", []), key=lambda r: r["task"]))


if __name__ == "__main__":
    main()
