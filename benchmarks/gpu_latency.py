"""The base-size fronts on a GPU: the models base_size.py and embeddings.py keep, timed on CUDA in
fp32, bf16 and fp16 with stock PyTorch and transformers; write RESULTS.md.

    python benchmarks/gpu_latency.py stage [--shared DIR] [--staged .gpu]    # here
    python3 benchmarks/gpu_latency.py time --staged .gpu --output OUT.json   # on the GPU machine
    python benchmarks/gpu_latency.py record OUT.json                         # here

Three steps, because the GPU machine this project is lent sometimes has neither bertpress's
dependencies nor room for the weights (64 MiB travel with a call): ``stage`` copies each kept model's
``config.json`` and ``modeling_bertpress.py`` (a few kilobytes) with its MACs and dev score; ``time``
imports torch and transformers only, builds each encoder from its config as stock
``from_pretrained(trust_remote_code=True)`` does (a pruned model's per-layer heads and FFN widths
included) with random weights, since the cost of a forward pass on a GPU does not depend on the
weights' values, and times it; ``record`` writes the table and ``gpu_latency.json``. Each compressed
model whose FFN widths are not multiples of 8 (or 64) is staged again with them rounded up to one:
what those widths cost a GPU's tensor cores is then in the table (``prune --neuron-multiple``).

The encoder alone is timed (``AutoModel``): a classification head or a mean pooling costs nothing
beside it. Each setting runs in eager mode and, in fp16, replayed from a CUDA graph as well (what
``torch.compile(mode="reduce-overhead")`` would do, without its compile time): at small batches a
GPU waits on the kernel launches, which pruning does not remove. fp32 runs without TF32 (torch's
default for matrix products).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import traceback
from pathlib import Path

BATCHES = (1, 32, 256)
SEQ_LENGTH = 128
PRECISIONS = ("fp32", "bf16", "fp16")
GRAPHED = "fp16 graph"  # fp16 replayed from a CUDA graph
SETTINGS = (*PRECISIONS, GRAPHED)
FFN_MULTIPLES = (8, 64)  # each compressed model is timed again with its FFN widths rounded up to these
STAGED_FILES = ("config.json", "modeling_bertpress.py")
ROUNDS = 5
ROUND_S = 0.1  # seconds of calls per round, after warming up
STORE = Path(__file__).with_name("gpu_latency.json")
# The score each use's rows show: its key in the benchmarks' stores, and the column's title.
SCORES = {"sst2": ("accuracy", "SST-2 dev accuracy"), "embedder": ("ndcg@10", "SQuAD-dev NDCG@10")}
EMBEDDER_CELL = "gradual 0.5 (similarity) on SQuAD + GLUE text + distill (lr 2e-5 on 12k texts)"


# --- stage (here, with bertpress) -------------------------------------------------------------

def kept_models(shared: Path) -> list[dict]:
    """The models to time: the dense MPNet and MiniLM SST-2 teachers, every SST-2 model base_size.py
    keeps, and the dense embedders with the best pruned MiniLM embedder of the embeddings front."""
    from base_size import STORE as BASE_SIZE_STORE
    from base_size import cache
    from embeddings import FRONT_STORE, front_cache
    from teachers import teacher_dir

    from bertpress.models.loading import resolve_model

    runs = json.loads(BASE_SIZE_STORE.read_text())["runs"]
    dense = {(r["use"], r["family"]): r["metrics"][SCORES[r["use"]][0]] for r in runs
             if r["method"] == "dense" and r["use"] in SCORES}
    models = [
        {"name": "MPNet SST-2 teacher", "use": "sst2", "role": "dense MPNet",
         "folder": str(teacher_dir("sst2", shared, base="mpnet")), "score": dense["sst2", "mpnet"]},
        {"name": "MiniLM SST-2 teacher", "use": "sst2", "role": "dense MiniLM",
         "folder": str(shared / "models" / "minilm-sst2"), "score": dense["sst2", "minilm"]},
    ]
    for row in runs:
        folder = cache(row["use"], row["method"], row["ratio"], row.get("num_samples", 512))
        if row["use"] == "sst2" and row["method"] != "dense" and folder.is_dir():
            samples = "" if row.get("num_samples", 512) == 512 else f", {row['num_samples']} samples"
            models.append({"name": f"MPNet SST-2 {row['method']} {row['ratio']}{samples}", "use": "sst2", "role": "compressed",
                           "folder": str(folder), "score": row["metrics"][SCORES["sst2"][0]]})
    front = {r["model"]: r for r in json.loads(FRONT_STORE.read_text())["rows"] if r["backend"] == "torch-fp32"}
    models += [
        {"name": "all-mpnet-base-v2", "use": "embedder", "role": "dense MPNet", "folder": resolve_model("mpnet"),
         "score": dense["embedder", "mpnet"]},
        {"name": "all-MiniLM-L6-v2", "use": "embedder", "role": "dense MiniLM", "folder": resolve_model("minilm"),
         "score": dense["embedder", "minilm"]},
        {"name": f"MiniLM {EMBEDDER_CELL}", "use": "embedder", "role": "compressed",
         # scored with --print-only (RESULTS.md's prose has it) where the front's store has no row of it
         "folder": str(front_cache(EMBEDDER_CELL)), "score": front.get(EMBEDDER_CELL, {}).get("ndcg@10")},
    ]
    return models


def stage(args: argparse.Namespace) -> None:
    from _results import shared_dir

    from bertpress.measure.info import describe

    staged = Path(args.staged)
    shutil.rmtree(staged / "models", ignore_errors=True)
    manifest = []
    for model in kept_models(shared_dir(args.shared)):
        variants = [(model, None)]
        if model["role"] == "compressed":
            variants += [({**model, "name": f"{model['name']}, FFN rounded up to {m}"}, m) for m in FFN_MULTIPLES]
        for entry, multiple in variants:
            target = staged / "models" / str(len(manifest))
            target.mkdir(parents=True)
            for name in STAGED_FILES:
                if (Path(model["folder"]) / name).is_file():
                    shutil.copy2(Path(model["folder"]) / name, target / name)
            if multiple:
                if not round_ffn(target / "config.json", multiple):
                    shutil.rmtree(target)  # already aligned (pruned with --neuron-multiple)
                    continue
                entry = {**entry, "score": None}  # a structure to time, not a model anyone scored
            macs = describe(encoder(target), SEQ_LENGTH).macs
            manifest.append({**entry, "staged": str(target.relative_to(staged)), "macs": macs})
            print(f"staged {entry['name']}: {macs:,} MACs", file=sys.stderr)
    (staged / "manifest.json").write_text(json.dumps(manifest, indent=1))


def round_ffn(config_file: Path, multiple: int) -> bool:
    """Widen each pruned FFN in a config to the next multiple of ``multiple`` neurons (GPU matrix
    units work on tiles: fp16 tensor cores on multiples of 8); whether any width changed."""
    config = json.loads(config_file.read_text())
    shapes, neurons = config["bertpress"]["linear_shapes"], config["bertpress"]["neurons_per_layer"]
    if all(count % multiple == 0 for count in neurons):
        return False
    for layer, count in enumerate(neurons):
        neurons[layer] = -(-count // multiple) * multiple
        shapes[f"encoder.layer.{layer}.intermediate.dense"][1] = neurons[layer]  # [in, out]
        shapes[f"encoder.layer.{layer}.output.dense"][0] = neurons[layer]
    config_file.write_text(json.dumps(config, indent=1))
    return True


# --- time (on the GPU machine: torch and transformers only) ------------------------------------

def encoder(folder: Path):
    """The model's encoder with random weights, built from its config as stock transformers builds it."""
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.from_pretrained(folder, trust_remote_code=True)
    return AutoModel.from_config(config, trust_remote_code=True).eval()


def median_ms(call, device) -> float:
    """The median over rounds of one call's milliseconds, timed by CUDA events over ROUND_S of calls."""
    import torch

    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for _ in range(3):
        call()
    start.record()
    call()
    end.record()
    torch.cuda.synchronize(device)
    calls = max(1, int(ROUND_S * 1e3 / max(start.elapsed_time(end), 1e-3)))
    rounds = []
    for _ in range(ROUNDS):
        start.record()
        for _ in range(calls):
            call()
        end.record()
        torch.cuda.synchronize(device)
        rounds.append(start.elapsed_time(end) / calls)
    return statistics.median(rounds)


def graphed(model, inputs: dict):
    """``model(**inputs)`` captured in a CUDA graph: one launch replays every kernel."""
    import torch

    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            model(**inputs)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        model(**inputs)
    return graph.replay


def time_setting(model, setting: str, batch: int, vocab_size: int) -> float:
    import torch

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}.get(setting, torch.float16)
    network = model.to("cuda", dtype)
    generator = torch.Generator().manual_seed(0)
    # No attention mask: every sequence is full length, which the models read as an all-ones mask;
    # building one from a mask can ask the host whether it is all ones, which a CUDA graph cannot capture.
    inputs = {"input_ids": torch.randint(vocab_size, (batch, SEQ_LENGTH), generator=generator).cuda()}
    with torch.inference_mode():
        call = graphed(network, inputs) if setting == GRAPHED else (lambda: network(**inputs))
        return median_ms(call, "cuda")


def time_models(args: argparse.Namespace) -> None:
    import torch
    import transformers

    staged = Path(args.staged)
    manifest = json.loads((staged / "manifest.json").read_text())
    result = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__,
              "transformers": transformers.__version__, "tf32": torch.backends.cuda.matmul.allow_tf32,
              "seq_length": SEQ_LENGTH, "models": []}
    for model in manifest:
        try:
            network = encoder(staged / model["staged"])
        except Exception as error:  # this machine's transformers may lack what a modeling file uses: go on
            print(f"{model['name']}: not built: {error}", file=sys.stderr)
            continue
        timings = {}
        for setting in SETTINGS:
            for batch in BATCHES:
                try:
                    timings[f"{setting} b{batch}"] = round(time_setting(network, setting, batch, network.config.vocab_size), 4)
                except Exception as error:  # a model that cannot be graphed, say: recorded, not fatal
                    timings[f"{setting} b{batch}"] = None
                    where = next((f"{Path(f.filename).name}:{f.lineno} {f.line}" for f in reversed(
                        traceback.extract_tb(error.__traceback__)) if "transformers" in f.filename or "modeling" in f.filename), "")
                    model.setdefault("errors", []).append(f"{setting} b{batch}: {str(error).splitlines()[0][:200]} ({where})")
        result["models"].append({**model, "attention": network.config._attn_implementation, "latency_ms": timings})
        print(model["name"], timings, flush=True)
        del network
        torch.cuda.empty_cache()
        Path(args.output).write_text(json.dumps(result, indent=1))  # each model as it ends: a cut-off run keeps them


# --- record (here) -----------------------------------------------------------------------------

def record(args: argparse.Namespace) -> None:
    from _results import markdown_table, write_section

    result = json.loads(Path(args.timings).read_text())
    STORE.write_text(json.dumps(result, indent=1) + "\n")
    write_section("gpu-latency", render(result, markdown_table))
    print(render(result, markdown_table))


TABLE_SETTINGS = ("fp32", "fp16", GRAPHED)  # bf16 times like fp16 (the JSON keeps it)


def render(result: dict, markdown_table) -> str:
    models = result["models"]

    def role(use: str, name: str) -> dict:
        return next(m for m in models if (m["use"], m["role"]) == (use, name))

    def ms(m: dict, setting: str, batch: int) -> float | None:
        return m["latency_ms"].get(f"{setting} b{batch}")

    def fastest(m: dict, batch: int) -> float:
        return min(v for setting in SETTINGS if (v := ms(m, setting, batch)))

    def ratio(a: float | None, b: float | None) -> str:
        return "-" if a is None or b is None else f"{a / b:.2f}x"

    sections = []
    for use, (_, metric) in SCORES.items():
        dense, minilm = role(use, "dense MPNet"), role(use, "dense MiniLM")
        rows = [[m["name"], m["attention"], f"{m['macs'] / dense['macs']:.3f}",
                 "" if m.get("score") is None else f"{m['score']:.2f}",
                 *("-" if ms(m, s, b) is None else f"{ms(m, s, b):.2f}" for s in TABLE_SETTINGS for b in BATCHES),
                 *(ratio(ms(dense, s, 256), ms(m, s, 256)) for s in ("fp32", "fp16")),
                 ratio(fastest(dense, 256), fastest(m, 256)), ratio(fastest(minilm, 256), fastest(m, 256))]
                for m in models if m["use"] == use]
        headers = ["model", "attention", "MACs (of MPNet)", metric,
                   *(f"{s} b{b} (ms)" for s in TABLE_SETTINGS for b in BATCHES),
                   "fp32 speedup b256", "fp16 speedup b256", "vs fastest dense MPNet b256", "vs fastest MiniLM b256"]
        sections.append(f"### {'SST-2' if use == 'sst2' else 'Embedders'}\n\n{markdown_table(headers, rows)}")
    errors = sorted({f"- {e.split(': ', 1)[1]}" for m in models for e in m.get("errors", [])})
    return "\n\n".join([
        "## Base size on a GPU (`benchmarks/gpu_latency.py`)",
        f"{result['device']}, torch {result['torch']}, transformers {result['transformers']}, TF32 "
        f"{'on' if result['tf32'] else 'off'}; {result['seq_length']} tokens per sequence; the encoder alone, "
        "built from each kept model's config with random weights (a forward pass's cost on a GPU does not depend "
        "on the weights' values); CUDA events, median of 5 rounds; bf16 is in gpu_latency.json. Scores are the "
        "kept models' own, measured on the CPU (base_size.json, embeddings_front.json); a row \"FFN rounded up\" "
        "is the same model with each FFN widened to that multiple of neurons, a structure timed, not a model "
        "anyone scored. Speedups are the dense MPNet encoder's latency over the row's, at batch 256 (at 1 and 32 "
        "the eager timings wait on Python launching kernels: compare those with the CUDA graph column); "
        "\"vs fastest\": each model in its fastest setting; above 1x: the row is faster.",
        *sections, *(["Settings that failed:\n\n" + "\n".join(errors)] if errors else []),
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    steps = parser.add_subparsers(dest="step", required=True)
    staging = steps.add_parser("stage", help="copy the kept models' configs, MACs and scores (here)")
    staging.add_argument("--shared", help="the shared teachers and data (default $BERTPRESS_SHARED)")
    staging.add_argument("--staged", default=".gpu")
    staging.set_defaults(run=stage)
    timing = steps.add_parser("time", help="time the staged encoders (on the GPU machine)")
    timing.add_argument("--staged", default=".gpu")
    timing.add_argument("--output", required=True)
    timing.set_defaults(run=time_models)
    recording = steps.add_parser("record", help="write RESULTS.md and gpu_latency.json")
    recording.add_argument("timings")
    recording.set_defaults(run=record)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
