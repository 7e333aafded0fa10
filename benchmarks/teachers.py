"""Build teachers with ``bertpress finetune``, once: the MiniLM teachers of the span and token
tasks, and the MPNet (all-mpnet-base-v2, base size) teachers of MRPC, STS-B and SST-2.

    python benchmarks/teachers.py [--shared DIR] [--base minilm|mpnet] [--tasks conll2003,squad]
                                  [--squad-samples N] [--epochs N] [--rebuild]

MPNet needs `make mpnet` first. Its SST-2 teacher trains on a seeded 8,000 of the 67,349 sentences
(the whole split would take about 7 hours an epoch here at base size).

Each teacher is trained on the shared data by the command line a user would run, then scored
(CoNLL-2003 on dev = eng.testa and test = eng.testb, SQuAD on dev), and kept with a
``teacher.json`` of its scores in the teachers' cache: $BERTPRESS_TEACHERS, else
~/.cache/bertpress/teachers (never inside the repository). ``teacher_dir(task)`` is how every
benchmark finds one, building it when it is missing.

SQuAD's whole training split (87,599 questions) takes about 2.8 hours an epoch on this 2-core CPU
(3.7 s a batch of 32 windows of 384 tokens), so its teacher trains on a seeded subset
(``--squad-samples``, recorded in its teacher.json).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _results import shared_dir

# task -> (data folder under shared/data, training settings). The learning rates are the usual
# ones for a 6-layer, 384-wide encoder (higher than BERT-base's).
RECIPES = {
    "conll2003": ("conll2003", {"epochs": 3, "lr": 1e-4, "batch_size": 32}),
    "squad": ("squad", {"epochs": 1, "lr": 1e-4, "batch_size": 32}),
}
# MPNet (12 layers, 768 wide): BERT-base's usual learning rate.
MPNET_RECIPES = {
    "mrpc": ("glue", {"epochs": 3, "lr": 2e-5, "batch_size": 32}),
    "stsb": ("glue", {"epochs": 3, "lr": 2e-5, "batch_size": 32}),
    "sst2": ("glue", {"epochs": 1, "lr": 2e-5, "batch_size": 32, "max_train_samples": 8000}),
}
BASES = {"minilm": ("all-MiniLM-L6-v2", RECIPES), "mpnet": ("all-mpnet-base-v2", MPNET_RECIPES)}
SQUAD_SAMPLES = 16_000  # what trains in about 30 minutes an epoch here; the whole split would take 2.8 hours an epoch
TEACHERS_ENV = "BERTPRESS_TEACHERS"


def cache_dir() -> Path:
    return Path(os.environ.get(TEACHERS_ENV) or Path.home() / ".cache" / "bertpress" / "teachers")


def teacher_dir(task: str, shared: Path | None = None, base: str = "minilm", **options) -> Path:
    """The cached teacher of ``task`` fine-tuned from ``base``, built first if it is missing."""
    folder = cache_dir() / f"{base}-{task}"
    if not (folder / "teacher.json").is_file():
        build(task, shared or shared_dir(None), folder, base=base, **options)
    return folder


def build(task: str, shared: Path, folder: Path, *, base: str = "minilm", squad_samples: int = SQUAD_SAMPLES,
          epochs: int | None = None) -> dict:
    """Fine-tune ``base`` on ``task`` into ``folder`` (through the command line) and score it."""
    base_name, recipes = BASES[base]
    data_folder, settings = recipes[task]
    settings = {**settings, **({"epochs": epochs} if epochs else {})}
    data_dir = shared / "data" / data_folder
    command = [
        "finetune", "--model", base, "--task", task, "--data-dir", str(data_dir), "--output", str(folder),
        "--overwrite", *(item for name, value in settings.items() for item in (f"--{name.replace('_', '-')}", str(value))),
    ]
    if task == "squad" and squad_samples:
        command += ["--max-train-samples", str(squad_samples)]
    started = time.perf_counter()
    history = _bertpress(command)
    seconds = time.perf_counter() - started
    scores = {"dev": history["epochs"][-1]["metrics"]}
    if task == "conll2003":
        scores["test"] = _bertpress(["evaluate", "--model", str(folder), "--task", task, "--data-dir", str(data_dir), "--split", "test"])["metrics"]
    record = {
        "task": task, "base": base_name, **scores,
        "train_examples": squad_samples if task == "squad" else settings.get("max_train_samples", "all"),
        **settings, "train_seconds": round(seconds), "epochs_curve": history["epochs"],
    }
    (folder / "teacher.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def _bertpress(arguments: list[str]) -> dict:
    """Run ``bertpress ARGUMENTS --json FILE`` and return the JSON it wrote."""
    cache_dir().mkdir(parents=True, exist_ok=True)
    report = cache_dir() / f".report-{os.getpid()}.json"
    subprocess.run([sys.executable, "-m", "bertpress", *arguments, "--json", str(report)], check=True)
    try:
        return json.loads(report.read_text())
    finally:
        report.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", help="the shared folder (default $BERTPRESS_SHARED or ../shared)")
    parser.add_argument("--base", choices=sorted(BASES), default="minilm")
    parser.add_argument("--tasks", help="default: every task of --base (minilm: conll2003,squad; mpnet: mrpc,stsb,sst2)")
    parser.add_argument("--squad-samples", type=int, default=SQUAD_SAMPLES, help="0: all of SQuAD train")
    parser.add_argument("--epochs", type=int, help="override each task's epochs")
    parser.add_argument("--rebuild", action="store_true", help="train again even where a teacher is cached")
    args = parser.parse_args()
    shared = shared_dir(args.shared)
    for task in (args.tasks or ",".join(BASES[args.base][1])).split(","):
        folder = cache_dir() / f"{args.base}-{task}"
        if args.rebuild or not (folder / "teacher.json").is_file():
            build(task, shared, folder, base=args.base, squad_samples=args.squad_samples, epochs=args.epochs)
        print(task, json.loads((folder / "teacher.json").read_text())["dev"], flush=True)


if __name__ == "__main__":
    main()
