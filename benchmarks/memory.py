"""Peak memory and time of a prune's phases on a random BERT-base-size classifier.

    python benchmarks/memory.py [--samples 2048[,512,...]] [--seq-length 128] [--layers 12]
                                [--hidden 768] [--memory-mb 0,512] [--quick] [--no-results]

The model is a seeded random BertForSequenceClassification (heads of 64, FFN 4 x hidden, 2 labels);
the data random tokens with a full attention mask, in batches of 32. Per configuration (every
combination of --samples and --memory-mb), two fresh processes, so that peaks do not mix:

- ``search``: Fisher mask gradients, then the MACs search at --ratio; saves the masks;
- ``tune``: the same model and data again, the masks, and ``reconstruct`` alone.

Each reports its peak RSS (``getrusage``'s ru_maxrss) and its RSS once the model and data are
built, so "tune above model+data" is what reconstruction itself needed. Writes the table to the
"memory" section of benchmarks/RESULTS.md unless --no-results.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from _results import machine, markdown_table, write_section

import bertpress  # noqa: F401  -- first: it silences the import noise transformers causes
from bertpress.measure.cost import MacsCost
from bertpress.measure.macs import encoder_macs
from bertpress.models.adapters import get_adapter
from bertpress.models.task_heads import SequenceClassification
from bertpress.prune.fisher import collect_mask_gradients
from bertpress.prune.masks import Masks
from bertpress.prune.reconstruct import reconstruct
from bertpress.prune.search import search_masks
from bertpress.prune.spill import memory_budget_mb
from transformers import BertConfig, BertForSequenceClassification  # noqa: E402

HEAD_SIZE = 64
STORE = Path(__file__).with_name("memory.json")
QUICK_SAMPLES = 256


@dataclass(frozen=True)
class Setup:
    samples: int
    seq_length: int
    layers: int
    hidden: int
    batch_size: int
    ratio: float
    mode: str
    memory_mb: float | None  # None: the library's default ($BERTPRESS_MEMORY_MB or 512)


def build(setup: Setup):
    """The seeded model (as an adapter) and calibration batches."""
    torch.manual_seed(0)
    config = BertConfig(
        hidden_size=setup.hidden,
        num_hidden_layers=setup.layers,
        num_attention_heads=setup.hidden // HEAD_SIZE,
        intermediate_size=4 * setup.hidden,
        max_position_embeddings=max(512, setup.seq_length),
        num_labels=2,
    )
    model = BertForSequenceClassification(config).eval()
    generator = torch.Generator().manual_seed(0)
    batches = []
    for start in range(0, setup.samples, setup.batch_size):
        size = min(setup.batch_size, setup.samples - start)
        ids = torch.randint(0, config.vocab_size, (size, setup.seq_length), generator=generator)
        labels = torch.randint(0, 2, (size,), generator=generator)
        batches.append({"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels})
    return get_adapter(model), batches


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def search_phase(setup: Setup, masks_path: Path) -> dict:
    adapter, batches = build(setup)
    ready = current_rss_mb()
    start = time.perf_counter()
    gradients = collect_mask_gradients(adapter, batches, SequenceClassification(2), progress=False)
    fisher_s = time.perf_counter() - start
    start = time.perf_counter()
    limit = setup.ratio * encoder_macs(adapter, setup.seq_length)
    cost = MacsCost.of(adapter, setup.seq_length)
    masks = search_masks(gradients.head_importance(), gradients.neuron_importance(), cost, limit)
    search_s = time.perf_counter() - start
    torch.save({"heads": masks.heads, "neurons": masks.neurons}, masks_path)
    return {"ready_mb": ready, "fisher_s": fisher_s, "search_s": search_s, "peak_mb": peak_rss_mb()}


def tune_phase(setup: Setup, masks_path: Path) -> dict:
    adapter, batches = build(setup)
    masks = Masks(**torch.load(masks_path))
    ready = current_rss_mb()
    start = time.perf_counter()
    reconstruct(adapter, masks, batches, mode=setup.mode, memory_mb=setup.memory_mb, progress=False)
    return {"ready_mb": ready, "tune_s": time.perf_counter() - start, "peak_mb": peak_rss_mb()}


PHASES = {"search": search_phase, "tune": tune_phase}


def in_fresh_process(phase: str, setup: Setup, masks_path: Path) -> dict:
    command = [sys.executable, __file__, "--child", phase, json.dumps(asdict(setup)), str(masks_path)]
    finished = subprocess.run(command, capture_output=True, text=True)
    if finished.returncode:
        raise SystemExit(f"the {phase} process failed:\n{finished.stderr}")
    return json.loads(finished.stdout.strip().splitlines()[-1])


def measure(setup: Setup) -> list:
    with tempfile.TemporaryDirectory() as folder:
        masks_path = Path(folder) / "masks.pt"
        search = in_fresh_process("search", setup, masks_path)
        tune = in_fresh_process("tune", setup, masks_path)
    budget = memory_budget_mb(setup.memory_mb)
    return [
        setup.samples, setup.seq_length, setup.layers, setup.hidden,
        f"{budget:.0f}" + (" (default)" if setup.memory_mb is None else ""),
        round(search["fisher_s"], 2), round(search["search_s"], 2), round(tune["tune_s"], 2),
        round(tune["ready_mb"]), round(search["peak_mb"]), round(tune["peak_mb"]),
        round(tune["peak_mb"] - tune["ready_mb"]),
    ]


HEADERS = [
    "samples", "seq", "layers", "hidden", "store MB", "fisher s", "search s", "tune s",
    "model+data MB", "peak fisher+search MB", "peak tune MB", "tune above model+data MB",
]


def numbers(text: str, kind=int) -> list:
    return [kind(value) for value in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=numbers, default=[2048], help="comma-separated: one configuration each")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SAMPLES} samples")
    parser.add_argument("--seq-length", type=int, default=128)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--hidden", type=int, default=768, help=f"a multiple of the head size, {HEAD_SIZE}")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--ratio", type=float, default=0.5, help="MACs ratio of the search")
    parser.add_argument("--mode", choices=["weights", "scales"], default="weights")
    parser.add_argument("--memory-mb", type=lambda text: numbers(text, float), default=[None],
                        help="comma-separated store budgets (default: the library's)")
    parser.add_argument("--no-results", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()
    if args.hidden % HEAD_SIZE:
        parser.error(f"--hidden must be a multiple of {HEAD_SIZE}")
    samples = [QUICK_SAMPLES] if args.quick else args.samples
    stored = json.loads(STORE.read_text()) if STORE.is_file() else []
    for count in samples:
        for memory_mb in args.memory_mb:
            setup = Setup(count, args.seq_length, args.layers, args.hidden, args.batch_size, args.ratio, args.mode,
                          memory_mb)
            row = measure(setup)
            print(" | ".join(str(value) for value in row), flush=True)
            # A configuration measured again replaces its earlier row; the others stay.
            stored = [old for old in stored if old[:5] != row[:5]] + [row]
    rows = sorted(stored, key=lambda row: (row[2], row[3], row[0]))
    text = (
        f"## Memory of a prune (`benchmarks/memory.py`)\n\nMachine: {machine()}. Random BERT classifier, "
        f"MACs ratio {args.ratio}, reconstruction mode '{args.mode}', batches of {args.batch_size}; each phase "
        f"in a fresh process (peak RSS from getrusage). Rows are kept in memory.json; a configuration run "
        f"again replaces its row.\n\n{markdown_table(HEADERS, rows)}"
    )
    print(text)
    if not args.no_results:
        STORE.write_text(json.dumps(stored, indent=1) + "\n")
        write_section("memory", text)

if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _, _, phase, setup_json, masks_path = sys.argv
        print(json.dumps(PHASES[phase](Setup(**json.loads(setup_json)), Path(masks_path))))
    else:
        main()
