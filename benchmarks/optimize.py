"""`bertpress optimize` on the MiniLM teachers: the chosen model, the front, the wall time, and the
best point made by hand in the other benchmarks; write RESULTS.md and each task's pareto.png.

    python benchmarks/optimize.py [--shared DIR] [--tasks mrpc,stsb,sst2] [--speedup 5] [--max-drop 1.0]
                                  [--time-budget 30m] [--squad-dev-questions N]

Tasks: the shared GLUE teachers (mrpc, stsb, sst2, rte) and the span and token teachers that
benchmarks/teachers.py builds (squad, conll2003).

The hand-made points are the rows of prune_glue.json (retraining-free, fp32 PyTorch),
distill_glue.json (distilled students, fp32 PyTorch and ONNX int8) and qa_ner.json (fp32 PyTorch
and OpenVINO int8). A hand point is matched when
the front holds a model at least as fast (batch 32) and at least as accurate. Speedups of hand
points were measured in their own runs, each against a dense model timed in that run.
Runs are kept in benchmarks/optimize.json by task; a run replaces only its task.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from _results import RESULTS, machine, markdown_table, shared_dir, write_section
from qa_ner import data_source as span_token_data
from teachers import RECIPES as TRAINED_TEACHERS
from teachers import teacher_dir

from bertpress import api
from bertpress.data.tasks import get_task
from bertpress.optimize import parse_duration

STORE = RESULTS.with_name("optimize.json")


def hand_points(task: str) -> list[dict]:
    """The points of the other benchmarks for ``task``: where they came from, speedup, metric."""
    points = []
    for store, table, name in (("prune_glue.json", "sweep", "prune_glue {variant} (fp32)"),
                               ("distill_glue.json", "main", "distill_glue {variant} {ratio}")):
        path = RESULTS.with_name(store)
        runs = json.loads(path.read_text()).get(table, []) if path.is_file() else []
        points += [{"what": name.format(**run), "speedup": run["speedup_b32"], "metric": run["after"]}
                   for run in runs if run["task"] == task]
    path = RESULTS.with_name("qa_ner.json")
    runs = json.loads(path.read_text())["runs"] if path.is_file() else []
    for run in (run for run in runs if run["task"] == task):
        for backend, scores in (("torch-fp32", "pruned"), ("openvino-int8", "int8")):
            points.append({"what": f"qa_ner {run['variant']} {run['ratio']} ({backend})",
                           "speedup": run["speedup"][f"{backend} b32"], "metric": run[scores][run["metric"]]})
    return points


def teacher_and_data(task: str, shared: Path, scratch: Path, args: argparse.Namespace) -> tuple[Path, api.DataSource]:
    """The MiniLM teacher of ``task`` and its data: the shared GLUE teachers, or the span and token
    teachers of benchmarks/teachers.py (SQuAD judged on the first dev articles, as in qa_ner.py)."""
    if task in TRAINED_TEACHERS:
        return teacher_dir(task, shared), span_token_data(task, shared, scratch, args.squad_dev_questions)
    return shared / "models" / f"minilm-{task}", api.DataSource(data_dir=str(shared / "data" / "glue"))


def run_task(task: str, shared: Path, args: argparse.Namespace, plots: Path) -> dict:
    seq_length = get_task(task).max_length
    with tempfile.TemporaryDirectory() as tmp:
        teacher, data = teacher_and_data(task, shared, Path(tmp), args)
        output = Path(tmp) / "search"
        try:
            report = api.optimize(
                str(teacher), task, output,
                target=api.Target(speedup=args.speedup, seq_length=seq_length), floor=api.Floor(max_drop=args.max_drop),
                time_budget_s=parse_duration(args.time_budget), data=data, backends=args.backends.split(","),
            )
            outcome = "chosen"
        except api.NoModelMeetsTarget as missed:
            report = api.OptimizeReport.from_dict(json.loads((output / "pareto.json").read_text()))
            outcome = str(missed)
        shutil.copyfile(output / "pareto.png", plots / f"optimize_{task}.png")
        (plots / f"optimize_{task}.md").write_text((output / "pareto.md").read_text())
    front = [report.candidates[i] for i in report.front]
    unmatched = [p for p in hand_points(task)
                 if not any(report.dense_ms / c.latency_ms >= p["speedup"] and c.metric >= p["metric"] for c in front)]
    chosen = report.candidates[report.chosen] if report.chosen is not None else None
    return {
        "task": task, "outcome": outcome, "report": report.to_dict(), "machine": machine(),
        "chosen": None if chosen is None else {
            "label": chosen.label, "backend": chosen.backend, "metric": chosen.metric,
            "change": chosen.metric - report.dense_metric, "speedup_b32": report.dense_ms / chosen.latency_ms,
            "speedup_b1": report.dense_b1_ms / chosen.latency_b1_ms,
        },
        "front_size": len(front), "candidates": len(report.candidates), "seconds": report.seconds,
        "hand_points": len(hand_points(task)), "unmatched": unmatched,
    }


def _vs_fastest_dense(run: dict) -> str:
    """The chosen model's speedup at the target batch over the dense model on its fastest backend
    (reports from before the dense rows were recorded have none)."""
    report, chosen = run["report"], run["report"].get("chosen")
    dense = [report["candidates"][i]["latency_ms"] for i in report.get("dense", [])]
    dense = [latency for latency in dense if latency is not None]
    if chosen is None or not dense:
        return ""
    return f"{min(dense) / report['candidates'][chosen]['latency_ms']:.2f}x"


def _asked(task: str, report: dict) -> str:
    """The task and what its search was asked for, as its report records it."""
    floor = ", ".join(f"{name.replace('_', ' ')} {value}" for name, value in report["floor"].items())
    target = report["target"]
    goal = f"{target['speedup']}x" if target.get("speedup") else f"{target['latency_ms']} ms"
    return f"{task} ({target['seq_length']} tokens, {goal}, {floor}, {report['time_budget_s'] / 60:.0f} min)"


def write_results(store: dict, args: argparse.Namespace) -> None:
    rows = []
    for task, run in sorted(store["runs"].items()):
        chosen = run["chosen"]
        rows.append([
            _asked(task, run["report"]), "none" if chosen is None else f"{chosen['label']} on {chosen['backend']}",
            "" if chosen is None else f"{chosen['metric']:.2f} ({chosen['change']:+.2f})",
            "" if chosen is None else f"{chosen['speedup_b32']:.2f}x", _vs_fastest_dense(run),
            "" if chosen is None else f"{chosen['speedup_b1']:.2f}x",
            f"{run['front_size']} of {run['candidates']}", f"{run['seconds'] / 60:.1f}",
            f"{run['hand_points'] - len(run['unmatched'])} of {run['hand_points']}",
            "; ".join(f"{p['what']} ({p['speedup']:.2f}x, {p['metric']:.2f})" for p in run["unmatched"]) or "-",
        ])
    headers = ["task", "chosen", "dev metric (change)", "speedup b32", "vs fastest dense b32", "speedup b1", "front / candidates",
               "minutes", "hand points matched", "hand points not matched"]
    plots = "\n\n".join(f"![{task} front](optimize_{task}.png)" for task in sorted(store["runs"]))
    write_section("optimize", "## Search (`benchmarks/optimize.py`)\n\n"
                  f"Machine: {store['machine']}. `bertpress optimize --speedup S --batch-size 32 "
                  f"--seq-length L --max-drop D --time-budget T --backend "
                  f"{args.backends}` on each MiniLM teacher (L, S, D and T in the task column; L is the task's length: "
                  "a SQuAD window is 384 tokens, judged on the first dev articles as in qa_ner.py). Speedups against dense fp32 PyTorch, and against the dense "
                  "model on its fastest backend, timed in the same run.\n\n"
                  + markdown_table(headers, rows) + _notes(store) + "\n\n" + plots)


def _notes(store: dict) -> str:
    """What ran beside a search, noted by hand in optimize.json (``note``)."""
    notes = [f"- {task}: {run['note']}" for task, run in sorted(store["runs"].items()) if run.get("note")]
    return "\n\nWhat ran beside a search:\n\n" + "\n".join(notes) if notes else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", help="folder with models/ and data/ (default $BERTPRESS_SHARED or ../shared)")
    parser.add_argument("--tasks", default="mrpc,stsb,sst2")
    parser.add_argument("--speedup", type=float, default=5.0)
    parser.add_argument("--max-drop", type=float, default=1.0)
    parser.add_argument("--time-budget", default="30m")
    parser.add_argument("--squad-dev-questions", type=int, default=2000)
    parser.add_argument("--backends", default="torch-fp32,onnx-int8,openvino-fp32,openvino-int8",
                        help="the backends searched (the probe in RESULTS.md shows why ONNX Runtime's static int8 is left out)")
    args = parser.parse_args()
    shared = shared_dir(args.shared)
    store = json.loads(STORE.read_text()) if STORE.is_file() else {"runs": {}}
    for task in (t for t in args.tasks.split(",") if t):
        result = run_task(task, shared, args, RESULTS.parent)
        store["runs"][task] = result
        store["machine"] = result["machine"]
        STORE.write_text(json.dumps(store, indent=2) + "\n")
        print(json.dumps({k: v for k, v in result.items() if k != "report"}, indent=2), flush=True)
    write_results(store, args)


if __name__ == "__main__":
    main()
