"""Compress all-MiniLM-L6-v2 as a sentence embedder, from unlabeled GLUE training sentences; write RESULTS.md.

    python benchmarks/embeddings.py [--shared DIR] [--ratios 0.7,0.5,0.35,0.25]
                                    [--methods prune,iterative,distill,iterative-distill,layers]
                                    [--max-questions 2000] [--epochs 1] [--no-int8]

Methods, each at the same MACs ratio of the encoder:
- ``prune``: label-free, retraining-free prune (Fisher of the embedding objective, search, rearrangement,
  reconstruction), calibrated on 2,048 sentences;
- ``iterative``: the same prune in stages (0.7, 0.5, ...), statistics and reconstruction redone on the
  already-pruned model each time (still label-free and retraining-free);
- ``distill``: that prune, then MSE distillation of the original embeddings on all the sentences;
- ``iterative-distill``: the iterative prune, then the same distillation on every sentence (not 20,000);
- ``layers``: drop alternate layers (then prune the rest of the way), then the same distillation
  (sentence-transformers' recipe for smaller embedders).

Each model is scored on STS-B dev (Spearman of cosine similarity, no training), on SQuAD dev retrieval
(a seeded ``--max-questions`` of the questions against all 2,067 paragraphs, 256 tokens), by agreement
with the original (mean cosine on held-out sentences), and timed at batch 1 and 32 x 128 tokens beside
the dense model in the same process; with int8 also as ONNX Runtime dynamic int8. The dense model's
own ONNX int8 row stands for sentence-transformers' ONNX int8 route (whose exporter, optimum, does
not install beside transformers 5). Runs are kept in benchmarks/embeddings.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import matplotlib
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from _results import RESULTS, kept_models_dir, machine, markdown_table, shared_dir, verdict, write_section  # noqa: E402

from bertpress import api  # noqa: E402
from bertpress.data.sources import load_split  # noqa: E402
from bertpress.data.tasks import get_task  # noqa: E402
from bertpress.measure.embeddings import agreement, embed, squad_retrieval, sts_similarity  # noqa: E402
from bertpress.measure.latency import measure_latency  # noqa: E402
from bertpress.data.squad import retrieval_set  # noqa: E402
from bertpress.models.loading import load_tokenizer, resolve_model  # noqa: E402

STORE = RESULTS.with_name("embeddings.json")
LAYERS = 6
SOURCES = ("stsb", "mrpc", "sst2", "rte")  # GLUE training sentences: the calibration and distillation text
HELD_OUT = 512


def calibration_text(shared: Path) -> Path:
    """The training sentences of SOURCES, deduplicated, one per line (made once)."""
    path = Path(tempfile.gettempdir()) / "bertpress-embedding-text.txt"
    if not path.is_file():
        data = api.DataSource(data_dir=str(shared / "data" / "glue"))
        sentences = []
        for task in SOURCES:
            examples = load_split(get_task(task), "train", data)
            sentences += [s for name in ("text_a", "text_b") if name in examples.column_names for s in list(examples[name])]
        sentences = list(dict.fromkeys(s.replace("\n", " ").strip() for s in sentences if s.strip()))
        path.write_text("\n".join(sentences) + "\n")
    return path


def recipe(method: str, ratio: float, epochs: int) -> api.Recipe:
    prune, distill = api.PruneStep(macs=ratio), api.DistillStep(epochs=epochs, max_train_samples=20000)
    if method == "prune":
        return api.Recipe.of(prune)
    if method == "iterative":
        return api.gradual_recipe(prune)
    if method == "distill":
        return api.Recipe.of(prune, distill)
    if method == "iterative-distill":
        return api.Recipe(api.gradual_recipe(prune).steps + (replace(distill, max_train_samples=None),))
    kept = max(1, math.ceil(ratio * LAYERS - 1e-9))
    steps = [api.DropLayersStep(count=LAYERS - kept, strategy="alternate")] if kept < LAYERS else []
    if kept / LAYERS > ratio + 1e-9:
        steps.append(prune)
    return api.Recipe(tuple(steps + [distill]))


class Scorer:
    """The evaluations and timings of one process, with the dense model's as the reference."""

    def __init__(self, shared: Path, max_questions: int, held_out: list[str]):
        self.data = api.DataSource(data_dir=str(shared / "data" / "glue"))
        self.squad = shared / "data" / "squad" / "dev-v1.1.json"
        self.max_questions = max_questions
        self.tokenizer = load_tokenizer("minilm")
        self.held_out = held_out
        self.dense = api.load_embedder("minilm")
        self.reference = embed(self.dense, self.tokenizer, held_out, progress=False)
        self.latency(self.dense)  # a warm-up: the first timing of a process reads slow

    def latency(self, model) -> dict[int, float]:
        return {batch: measure_latency(model, batch, 128) for batch in (1, 32)}

    def score(self, model) -> dict:
        retrieval = squad_retrieval(model, self.tokenizer, self.squad, max_questions=self.max_questions, progress=False)
        # The dense model is timed right before each model, so that a ratio never spans a drift of the machine.
        dense_ms, latency = self.latency(self.dense), self.latency(model)
        return {
            "spearman": sts_similarity(model, self.tokenizer, self.data, progress=False).metrics["spearman"],
            **retrieval.metrics,
            "agreement": agreement(embed(model, self.tokenizer, self.held_out, progress=False), self.reference),
            "speedup_b1": dense_ms[1] / latency[1],
            "speedup_b32": dense_ms[32] / latency[32],
            "latency_ms_b32": latency[32],
        }


def held_out_sentences(shared: Path) -> list[str]:
    """Sentences from the GLUE dev splits of SOURCES: never in the calibration text."""
    data = api.DataSource(data_dir=str(shared / "data" / "glue"))
    sentences = []
    for task in SOURCES:
        sentences += list(load_split(get_task(task), "dev", data)["text_a"])
    return sentences[::max(1, len(sentences) // HELD_OUT)][:HELD_OUT]


def run_cell(scorer: Scorer, text: Path, method: str, ratio: float, epochs: int, int8: bool) -> list[dict]:
    setup = api.EmbeddingSetup(text_file=str(text))
    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp) / "model"
        started = time.perf_counter()
        report = api.compress("minilm", None, output, recipe=recipe(method, ratio, epochs), embedding=setup, progress=False)
        seconds = time.perf_counter() - started
        rows = [{"backend": "fp32", "seconds": seconds, **scorer.score(api.load_embedder(str(output)))}]
        if int8:
            api.export(str(output), Path(tmp) / "int8", int8=True, embedding=True)
            rows.append({"backend": "int8", "seconds": seconds, **scorer.score(api.load_embedder(str(Path(tmp) / "int8")))})
    for row in rows:
        row.update(method=method, ratio=ratio, macs_ratio=report.macs_ratio, timings_s=report.timings_s,
                   heads_per_layer=report.heads_per_layer, neurons_per_layer=report.neurons_per_layer,
                   dropped_layers=report.dropped_layers, date=datetime.date.today().isoformat())
    return rows


def dense_rows(scorer: Scorer, int8: bool) -> list[dict]:
    rows = [{"backend": "fp32", **scorer.score(scorer.dense)}]
    if int8:
        with tempfile.TemporaryDirectory() as tmp:
            api.export("minilm", Path(tmp) / "int8", int8=True, embedding=True)
            rows.append({"backend": "int8", **scorer.score(api.load_embedder(str(Path(tmp) / "int8")))})
    for row in rows:
        row.update(method="dense", ratio=1.0, macs_ratio=1.0, seconds=0.0, date=datetime.date.today().isoformat())
    return rows


def save_rows(store: dict, rows: list[dict]) -> None:
    keys = {(r["method"], r["ratio"], r["backend"]) for r in rows}
    store["runs"] = [r for r in store.get("runs", []) if (r["method"], r["ratio"], r["backend"]) not in keys] + rows
    store["machine"] = machine()
    STORE.write_text(json.dumps(store, indent=2) + "\n")


METHOD_NAMES = {"dense": "dense", "prune": "prune (label-free)", "iterative": "iterative prune (label-free)",
                "distill": "prune + distill", "iterative-distill": "iterative prune + distill (all text)",
                "layers": "layer drop + distill"}
HEADERS = ["MACs", "method", "backend", "STS-B", "Δ", "R@10", "NDCG@10", "Δ", "agreement", "speedup b1",
           "speedup b32", "seconds", "measured"]


def target_rows(runs: list[dict], dense: dict) -> list[list]:
    """The issue's targets against the runs that answer them (a row per candidate run)."""
    def find(method, ratio, backend):
        return next((r for r in runs if (r["method"], r["ratio"], r["backend"]) == (method, ratio, backend)), None)

    def drops(r):
        return dense["spearman"] - r["spearman"], dense["ndcg@10"] - r["ndcg@10"]

    rows = []
    for method in ("prune", "iterative"):
        r = find(method, 0.5, "fp32")
        if r:
            sts, ndcg = drops(r)
            rows.append([f"0.5, {METHOD_NAMES[method]}: STS-B / NDCG@10 drop, speedup b32, time",
                         "<= 1.0 / <= 1.5, >= 1.7x, <= 60 s",
                         f"{sts:.2f} / {ndcg:.2f}, {r['speedup_b32']:.2f}x, {r['seconds']:.0f} s",
                         verdict(sts <= 1.0 and ndcg <= 1.5 and r["speedup_b32"] >= 1.7 and r["seconds"] <= 60)])
    for method in ("distill", "iterative-distill", "layers"):
        r = find(method, 0.25, "fp32")
        if r:
            rows.append([f"0.25, {METHOD_NAMES[method]}: STS-B drop", "<= 2.0", f"{drops(r)[0]:.2f}", verdict(drops(r)[0] <= 2.0)])
    for method in ("prune", "iterative", "distill"):
        r = find(method, 0.5, "int8")
        if r:
            sts, ndcg = drops(r)
            rows.append([f"0.5, {METHOD_NAMES[method]} + ONNX int8: speedup b32, STS-B / NDCG@10 drop",
                         ">= 4x, <= 1.5 / <= 1.5", f"{r['speedup_b32']:.2f}x, {sts:.2f} / {ndcg:.2f}",
                         verdict(r["speedup_b32"] >= 4 and sts <= 1.5 and ndcg <= 1.5)])
    r = find("dense", 1.0, "int8")
    if r:
        rows.append(["dense + ONNX int8 (the sentence-transformers route): speedup b32, share of NDCG@10",
                     "anchor: about 3.2x at 99.7%", f"{r['speedup_b32']:.2f}x at {100 * r['ndcg@10'] / dense['ndcg@10']:.1f}%", ""])
    return rows


def write_tables(store: dict) -> None:
    runs = store.get("runs", [])
    dense = next((r for r in runs if r["method"] == "dense" and r["backend"] == "fp32"), None)
    if dense is None:
        return
    runs = sorted(runs, key=lambda r: (-r["ratio"], list(METHOD_NAMES).index(r["method"]), r["backend"]))
    rows = [[f"{r['ratio']:.2f}", METHOD_NAMES[r["method"]], r["backend"], f"{r['spearman']:.2f}",
             f"{r['spearman'] - dense['spearman']:+.2f}", f"{r['recall@10']:.2f}", f"{r['ndcg@10']:.2f}",
             f"{r['ndcg@10'] - dense['ndcg@10']:+.2f}", f"{r['agreement']:.2f}", f"{r['speedup_b1']:.2f}x",
             f"{r['speedup_b32']:.2f}x", f"{r['seconds']:.0f}", r["date"]] for r in runs]
    text = (
        f"Machine: {store['machine']}. Model: all-MiniLM-L6-v2 (the PyPI package). Text: the deduplicated "
        f"training sentences of {', '.join(SOURCES)} (no labels); 2,048 calibrate the prune, distillation "
        "(1 epoch, MSE to the original embeddings) reads a seeded 20,000 (iterative-distill: all). "
        "STS-B: dev Spearman of cosine "
        "similarity x100. Retrieval: SQuAD v1.1 dev, a seeded "
        f"{store.get('max_questions', 2000):,} questions against all paragraphs (256 tokens). Agreement: mean "
        "cosine with the original on 512 GLUE dev sentences. Speedups: dense fp32 PyTorch / model, at 128 "
        "tokens, the dense model timed right before each model. The dense int8 row is the route sentence-transformers' "
        "`export_dynamic_quantized_onnx_model` takes (ONNX Runtime dynamic int8), measured here with "
        "bertpress's exporter because optimum does not install beside transformers 5.\n\n"
        + (f"**Caveat:** {store['caveat']}\n\n" if store.get("caveat") else "")
        + "### Targets (from the embeddings issue)\n\n"
        + markdown_table(["target", "goal", "measured", ""], target_rows(runs, dense))
        + "\n\n### All runs\n\n"
        + markdown_table(HEADERS, rows)
        + "\n\n![NDCG@10 against measured speedup](embeddings.png)"
    )
    write_section("embeddings", "## Sentence embeddings (`benchmarks/embeddings.py`)\n\n" + text)
    plot(runs, dense, RESULTS.with_name("embeddings.png"))


def plot(runs: list[dict], dense: dict, path: Path) -> None:
    figure, axis = plt.subplots(figsize=(6, 4))
    for (method, backend) in dict.fromkeys((r["method"], r["backend"]) for r in runs):
        points = sorted((r["speedup_b32"], r["ndcg@10"]) for r in runs if (r["method"], r["backend"]) == (method, backend))
        axis.plot(*zip(*points), marker="o" if backend == "fp32" else "s", label=f"{METHOD_NAMES[method]}, {backend}")
    axis.axhline(dense["ndcg@10"], color="grey", linewidth=0.7, linestyle="--")
    axis.set_xlabel("measured speedup, batch 32 x 128")
    axis.set_ylabel("SQuAD retrieval NDCG@10")
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


# --- against the anchors (``--front``) ---------------------------------------------------------
# The embedding issue's comparison: bertpress's models against what an embedding user has without
# it, on the texts of embedding_anchors.py (STS-B dev, the first 1,000 SQuAD dev paragraphs, batch
# 32), each structure on the backends below, every model timed alone in one process.
FRONT_STORE = RESULTS.with_name("embeddings_front.json")
ANCHORS = RESULTS.with_name("embedding_anchors.json")
DENSE_BACKENDS = ("torch-fp32", "onnx-int8", "openvino-int8")  # the dense model's anchors in this environment
FRONT_BACKENDS = ("torch-fp32", "openvino-int8")  # bertpress's models (OpenVINO int8 is the fastest int8 here)
TIE = "tie: bertpress dense openvino int8"  # timed in both environments (embedding_anchors.py)
DISTILL_SAMPLES = 24_000  # texts a front distillation reads (a seeded subset of SQuAD train's 106k)


@dataclass(frozen=True)
class Cell:
    """A model of the front: ``recipe`` applied to ``start`` (another cell, None: all-MiniLM-L6-v2)
    with ``objective``, calibrated and distilled on SQuAD train's paragraphs and questions (and,
    with ``glue_text``, the GLUE training sentences of SOURCES too: two --text-file)."""

    name: str
    recipe: object = None  # an api.Recipe; None: a static embedder (``distill --static``)
    start: str | None = None
    objective: str = "mse"
    glue_text: bool = False
    pairs: bool = False  # calibration and distillation batches hold each SQuAD question with its paragraph (--query-passage-pairs)
    calibration_texts: int = api.Calibration().num_samples  # texts the pruning statistics and refit read (--num-samples)


def front_cells() -> list[Cell]:
    # The front was made before prune's layer floor: its cells keep the search they were made with
    # (layer_floor 0). With the floor, the similarity one-shot's masks are the same (RESULTS.md).
    prune = api.PruneStep(macs=0.5, layer_floor=0.0)
    distill = api.DistillStep(teacher="minilm", epochs=1, max_train_samples=DISTILL_SAMPLES)
    return [
        Cell("one-shot 0.5", api.Recipe.of(prune)),
        Cell("one-shot 0.5 (similarity)", api.Recipe.of(prune), objective="similarity"),
        Cell("one-shot 0.5 (similarity) + layer floor", api.Recipe.of(api.PruneStep(macs=0.5)), objective="similarity"),
        Cell("gradual 0.5", api.gradual_recipe(prune)),
        Cell("gradual 0.5 + distill (mse)", api.Recipe.of(distill), start="gradual 0.5"),
        Cell("gradual 0.5 + distill (similarity)", api.Recipe.of(distill), start="gradual 0.5", objective="similarity"),
        Cell("static 256 dims"),
        Cell("gradual 0.5 (similarity) on SQuAD + GLUE text", api.gradual_recipe(api.PruneStep(macs=0.5)),
             objective="similarity", glue_text=True),
        # A gentler step than distillation's default 1e-4: the start is already close to the original.
        Cell("gradual 0.5 (similarity) on SQuAD + GLUE text + distill (lr 2e-5 on 12k texts)",
             api.Recipe.of(replace(distill, lr=2e-5, max_train_samples=12_000)),
             start="gradual 0.5 (similarity) on SQuAD + GLUE text", objective="similarity", glue_text=True),
        # The same step on four times the text: does retrieval keep rising with more of it?
        Cell("gradual 0.5 (similarity) on SQuAD + GLUE text + distill (lr 2e-5 on 48k texts)",
             api.Recipe.of(replace(distill, lr=2e-5, max_train_samples=48_000)),
             start="gradual 0.5 (similarity) on SQuAD + GLUE text", objective="similarity", glue_text=True),
        # The 12k step with each question batched with its paragraph: the in-batch term then sees the
        # query-passage similarities retrieval ranks by (length-grouped batches put questions together).
        Cell("gradual 0.5 (similarity) on SQuAD + GLUE text + distill on query-passage pairs (lr 2e-5 on 12k texts)",
             api.Recipe.of(replace(distill, lr=2e-5, max_train_samples=12_000)),
             start="gradual 0.5 (similarity) on SQuAD + GLUE text", objective="similarity", glue_text=True, pairs=True),
        # Token-level agreement: every layer's token states against the original's (the pruned model
        # keeps the depth and width), beside the embedding objective; the 12k step otherwise.
        Cell("gradual 0.5 (similarity) on SQuAD + GLUE text + distill with hidden states (lr 2e-5 on 12k texts)",
             api.Recipe.of(replace(distill, lr=2e-5, max_train_samples=12_000, hidden=1.0)),
             start="gradual 0.5 (similarity) on SQuAD + GLUE text", objective="similarity", glue_text=True),
        # The pairs in the pruning statistics' batches too (retraining-free).
        Cell("gradual 0.5 (similarity) on query-passage pairs of SQuAD + GLUE text", api.gradual_recipe(api.PruneStep(macs=0.5)),
             objective="similarity", glue_text=True, pairs=True),
        # More calibration text: the statistics and the refit see more paragraphs (about 10% of the pool);
        # and with it a smaller structure (0.4 of the MACs), to be faster in int8.
        *more_calibration_cells(distill),
        # Half the depth: in OpenVINO int8 the pruned widths barely pay (the f32 attention, LayerNorms
        # and quantize steps stay), while each dropped layer takes all of them. Distillation's default
        # step (1e-4): the start is far from the original.
        Cell("3 of 6 layers (every other one dropped) + distill (3 epochs on 24k texts)",
             api.Recipe.of(api.DropLayersStep(count=3, strategy="alternate"), replace(distill, epochs=3)),
             objective="similarity", glue_text=True),
    ]


def more_calibration_cells(distill) -> list[Cell]:
    """The gradual similarity cell calibrated on 8,192 and on 24,576 texts (not the default 2,048),
    then distilled at lr 2e-5: the first for 1 and for 2 epochs on 12,000 texts, the second for 1 on
    48,000; and the 8,192-text recipe at 0.4 of the MACs (2 epochs), to be faster in int8."""
    cells = []
    for macs, texts, distill_texts, epochs in ((0.5, 8192, 12_000, (1, 2)), (0.5, 24_576, 48_000, (1,)), (0.4, 8192, 12_000, (2,))):
        start = f"gradual {macs} (similarity) on SQuAD + GLUE text ({texts} calibration texts)"  # no comma: --cells splits at commas
        cells.append(Cell(start, api.gradual_recipe(api.PruneStep(macs=macs)), objective="similarity", glue_text=True,
                          calibration_texts=texts))
        cells += [Cell(f"{start} + distill (lr 2e-5{' for 2 epochs' if count == 2 else ''} on {distill_texts // 1000}k texts)",
                       api.Recipe.of(replace(distill, lr=2e-5, epochs=count, max_train_samples=distill_texts)),
                       start=start, objective="similarity", glue_text=True) for count in epochs]
    return cells


def front_cache(name: str) -> Path:
    return kept_models_dir("embeddings") / name.replace(" ", "-").replace("(", "").replace(")", "")


def make_cell(cell: Cell, shared: Path) -> tuple[Path, float | None]:
    """The cell's model folder, made once (kept in the cache); the seconds making it took, or None when it was kept."""
    folder = front_cache(cell.name)
    if (folder / "modules.json").is_file():
        return folder, None
    started = time.perf_counter()
    squad_train = shared / "data" / "squad" / "train-v1.1.json"
    text = (str(squad_train), str(calibration_text(shared))) if cell.glue_text else str(squad_train)
    setup = api.EmbeddingSetup(text_file=text, objective=cell.objective, query_passage_pairs=cell.pairs)
    if cell.recipe is None:
        api.distill_static("minilm", folder, config=api.DistillStaticStep(text_file=str(squad_train)), progress=True)
    else:
        start = str(front_cache(cell.start)) if cell.start else "minilm"
        api.compress(start, None, folder, recipe=cell.recipe, embedding=setup, progress=True,
                     calibration=api.Calibration(num_samples=cell.calibration_texts))
    return folder, time.perf_counter() - started


class FrontTexts:
    """The texts every front model is scored and timed on (as embedding_anchors.py reads them)."""

    def __init__(self, shared: Path):
        self.data = api.DataSource(data_dir=str(shared / "data" / "glue"))
        self.squad = shared / "data" / "squad" / "dev-v1.1.json"
        self.sentences = list(load_split(get_task("stsb"), "dev", self.data)["text_a"])[:1500]
        self.paragraphs = retrieval_set(self.squad)[0][:1000]

    def score(self, model, tokenizer) -> dict:
        retrieval = squad_retrieval(model, tokenizer, self.squad, max_questions=1000, progress=False).metrics
        return {
            "spearman": sts_similarity(model, tokenizer, self.data, progress=False).metrics["spearman"],
            "ndcg@10": retrieval["ndcg@10"], "recall@10": retrieval["recall@10"],
            "sentences_per_s": self.throughput(model, tokenizer, self.sentences, 128),
            "paragraphs_per_s": self.throughput(model, tokenizer, self.paragraphs, 256),
        }

    @staticmethod
    def throughput(model, tokenizer, texts: list[str], max_length: int) -> float:
        """Texts a second at batch 32 (the faster of two passes, after a warm-up batch)."""
        embed(model, tokenizer, texts[:32], batch_size=32, max_length=max_length, progress=False)
        seconds = []
        for _ in range(2):
            started = time.perf_counter()
            embed(model, tokenizer, texts, batch_size=32, max_length=max_length, progress=False)
            seconds.append(time.perf_counter() - started)
        return round(len(texts) / min(seconds), 2)


class Model2VecEncoder:
    """model2vec's own encoder on a model it distilled (``embedding_anchors.py --model2vec-output``;
    ``pip install model2vec`` installs the encoder beside bertpress, its distillation needs the side
    environment): ``embed`` calls ``embed_texts``, so it is scored and timed by the same code, in
    the same run, as bertpress's static model."""

    NAME = "model2vec encoder (this run)"

    def __init__(self, folder: str):
        from model2vec import StaticModel

        self.model = StaticModel.from_pretrained(folder)

    def embed_texts(self, tokenizer, texts: list[str], max_length: int) -> torch.Tensor:
        return torch.from_numpy(self.model.encode(texts, max_length=max_length))  # its default batches of 1,024


def backend_model(name: str, folder: Path, backend: str, squad_train: Path):
    """Cell ``name``'s model (in ``folder``) on ``backend``: exported once into the cache (static
    int8 calibrated on SQuAD train's text), then loaded. embedding_anchors.py's ``--tie`` is the
    dense model's openvino-int8 folder."""
    if backend == "torch-fp32":
        return api.load_embedder(str(folder))
    target = front_cache(f"{name} {backend}")
    if not target.is_dir():
        api.export(str(folder), target, embedding=True, backend=backend, text=api.EmbeddingSetup(text_file=str(squad_train)))
    return api.load_embedder(str(target))


def run_front(
    shared: Path, backends: tuple[str, ...], note: str | None, only: set[str] | None = None, model2vec: str | None = None,
    keep: bool = True,
) -> None:
    """Make, score and time the front's cells (``only``: those cells, "dense" among them or not, their
    rows replacing the stored ones); ``model2vec``: model2vec's folder, its encoder scored beside them;
    ``keep`` False: only print the rows (on a machine other than the stored front's)."""
    squad_train = shared / "data" / "squad" / "train-v1.1.json"
    texts = FrontTexts(shared)
    tokenizer = load_tokenizer("minilm")
    store = json.loads(FRONT_STORE.read_text()) if only and FRONT_STORE.is_file() else {"rows": []}
    cpu, stored_cpu = machine().split(",")[0], store.get("machine", machine()).split(",")[0]
    if keep and cpu != stored_cpu:  # throughputs of two machines in one table would not compare
        raise SystemExit(f"the stored front was timed on {stored_cpu}, this machine is {cpu}: run the whole front (no --cells)")
    cells = [] if only and "dense" not in only else [(Cell("dense"), Path(resolve_model("minilm")), 0.0)]
    chosen = [cell for cell in front_cells() if not only or cell.name in only]
    unknown = (only or set()) - {cell.name for cell in chosen} - {"dense"}
    if unknown:  # a misspelt name would silently make nothing
        raise SystemExit(f"no front cell is named {', '.join(sorted(unknown))!r}")
    cells += [(cell, *make_cell(cell, shared)) for cell in chosen]  # made first: the timings run alone
    store["rows"] = [r for r in store["rows"] if r["model"] not in {cell.name for cell, _, _ in cells}]
    for cell, folder, seconds in cells:
        for backend in DENSE_BACKENDS if cell.name == "dense" else backends if cell.recipe is not None else ("torch-fp32",):
            model = backend_model(cell.name, folder, backend, squad_train)
            row = {"model": cell.name, "backend": backend, "seconds": seconds, "timed": time.strftime("%Y-%m-%d %H:%M"),
                   **texts.score(model, tokenizer)}
            store["rows"].append(row)
            print(row, flush=True)
    if model2vec:
        store["rows"] = [r for r in store["rows"] if r["model"] != Model2VecEncoder.NAME]
        row = {"model": Model2VecEncoder.NAME, "backend": "model2vec", "seconds": None, "timed": time.strftime("%Y-%m-%d %H:%M"),
               **texts.score(Model2VecEncoder(model2vec), tokenizer)}
        store["rows"].append(row)
        print(row, flush=True)
    if not keep:
        return
    store.update(machine=machine(), date=datetime.date.today().isoformat(), note=note or store.get("note"))
    FRONT_STORE.write_text(json.dumps(store, indent=2) + "\n")
    write_front(store)


def anchor_rows(store: dict) -> list[dict]:
    """embedding_anchors.py's rows, their throughputs carried onto this run's clock by the tie
    model (bertpress's dense openvino-int8, timed in both runs)."""
    if not ANCHORS.is_file():
        return []
    anchors = json.loads(ANCHORS.read_text())
    here = next((r for r in store["rows"] if (r["model"], r["backend"]) == ("dense", "openvino-int8")), None)
    there = anchors["rows"].get(TIE)
    if here is None or there is None:
        return []
    scale = {unit: here[unit] / there[unit] for unit in ("sentences_per_s", "paragraphs_per_s")}
    return [{**row, "model": name, "backend": "(side environment)", "anchor": True,
             **{unit: round(row[unit] * factor, 2) for unit, factor in scale.items()}}
            for name, row in anchors["rows"].items() if name != TIE]


def write_front(store: dict) -> None:
    rows = store["rows"] + anchor_rows(store)
    dense = next(r for r in rows if (r["model"], r["backend"]) == ("dense", "torch-fp32"))
    anchor = next((r for r in rows if r["model"] == "dense openvino static int8 (sentence-transformers)"), None)

    def speed(r, unit):
        return r[unit] / (anchor or dense)[unit]

    table = [[r["model"], r["backend"], f"{r['spearman']:.2f}", f"{r['spearman'] - dense['spearman']:+.2f}",
              f"{r['ndcg@10']:.2f}", f"{r['ndcg@10'] - dense['ndcg@10']:+.2f}", f"{r['recall@10']:.2f}",
              f"{r['sentences_per_s']:.0f}", f"{r['paragraphs_per_s']:.1f}",
              f"{speed(r, 'sentences_per_s'):.2f}x / {speed(r, 'paragraphs_per_s'):.2f}x",
              "" if r.get("seconds") is None else f"{r['seconds']:.0f}"] for r in rows]
    reference = "sentence-transformers' OpenVINO static int8 route" if anchor else "dense fp32 PyTorch (no anchor run yet)"
    targets = []
    if anchor:
        def within(r):
            return dense["spearman"] - r["spearman"] <= 1.0 and dense["ndcg@10"] - r["ndcg@10"] <= 1.5
        ours = [r for r in store["rows"] if r["model"] not in ("dense", Model2VecEncoder.NAME)]
        keep = [r for r in ours if within(r)]
        best = max(keep, key=lambda r: min(speed(r, "sentences_per_s"), speed(r, "paragraphs_per_s")), default=None)
        # with none within the limits: the most accurate at least as fast as the anchor on both texts
        faster = [r for r in ours if min(speed(r, "sentences_per_s"), speed(r, "paragraphs_per_s")) >= 1]
        shown = best or max(faster, key=lambda r: r["ndcg@10"] + r["spearman"], default=None)
        if shown is not None:
            targets.append([
                "bertpress model: >= 2x the anchor's throughput (sentences and paragraphs), within 1.0 STS-B / 1.5 NDCG@10",
                ">= 2x, <= 1.0 / <= 1.5",
                f"{shown['model']} on {shown['backend']}: {speed(shown, 'sentences_per_s'):.2f}x / {speed(shown, 'paragraphs_per_s'):.2f}x, "
                f"{dense['spearman'] - shown['spearman']:.2f} / {dense['ndcg@10'] - shown['ndcg@10']:.2f}",
                verdict(best is not None and min(speed(best, "sentences_per_s"), speed(best, "paragraphs_per_s")) >= 2),
            ])
    # Side by side in this run where model2vec's encoder ran here; else the side environment's rows
    # (ours through sentence-transformers' StaticEmbedding there).
    m2v = next((r for r in store["rows"] if r["model"] == Model2VecEncoder.NAME), None)
    static = next((r for r in store["rows"] if r["model"].startswith("static")), None) if m2v else None
    if not m2v:
        m2v = next((r for r in rows if r["model"].startswith("model2vec")), None)
        static = next((r for r in rows if r["model"].startswith("bertpress static")), None)
    if m2v and static:
        targets.append([
            f"static ({static['model']}): at least model2vec's STS-B, NDCG@10 and throughput", "",
            f"{static['spearman']:.2f} vs {m2v['spearman']:.2f}, {static['ndcg@10']:.2f} vs {m2v['ndcg@10']:.2f}, "
            f"{static['paragraphs_per_s']:.0f} vs {m2v['paragraphs_per_s']:.0f} paragraphs/s",
            verdict(static["spearman"] >= m2v["spearman"] and static["ndcg@10"] >= m2v["ndcg@10"]
                    and static["paragraphs_per_s"] >= m2v["paragraphs_per_s"]),
        ])
    free = [r for r in store["rows"] if r["backend"] == "torch-fp32" and "0.5" in r["model"] and "distill" not in r["model"]]
    retrain_free = max(free, key=lambda r: r["spearman"] + r["ndcg@10"], default=None)
    if retrain_free:
        targets.append([f"0.5 retraining-free, label-free ({retrain_free['model']}): STS-B / NDCG@10 drop", "<= 1.0 / <= 1.5",
                        f"{dense['spearman'] - retrain_free['spearman']:.2f} / {dense['ndcg@10'] - retrain_free['ndcg@10']:.2f}",
                        verdict(dense["spearman"] - retrain_free["spearman"] <= 1.0 and dense["ndcg@10"] - retrain_free["ndcg@10"] <= 1.5)])
    side = json.loads(ANCHORS.read_text()) if ANCHORS.is_file() else None
    text = (
        f"Machine: {store['machine']}. Model: all-MiniLM-L6-v2. Text for calibration, distillation and static int8: SQuAD "
        f"train's paragraphs and questions (`--text-file train-v1.1.json`, 256 tokens); distillations read a seeded "
        f"{DISTILL_SAMPLES:,} of them for 1 epoch. STS-B: dev Spearman x100; retrieval: SQuAD dev, a seeded 1,000 questions "
        "against all 2,067 paragraphs. Throughput: texts a second at batch 32, the first 1,500 STS-B dev sentences (128 "
        "tokens) and the first 1,000 SQuAD dev paragraphs (256 tokens), each model alone; x: against " + reference + ". "
        + (f"Anchors (sentence-transformers' routes, model2vec) ran in a side environment ({', '.join(f'{k} {v}' for k, v in side['versions'].items())}), "
           "their throughput carried onto this run through bertpress's dense openvino-int8, timed in both. " if side else "")
        + (f"**Note:** {store['note']}\n\n" if store.get("note") else "\n\n")
        + (markdown_table(["target", "goal", "measured", ""], targets) + "\n\n" if targets else "")
        + markdown_table(["model", "backend", "STS-B", "Δ", "NDCG@10", "Δ", "R@10", "sentences/s", "paragraphs/s",
                          "x sentences / paragraphs", "make s"], table)
        + "\n\n![NDCG@10 against paragraphs a second](embeddings_front.png)"
    )
    write_section("embeddings-front", "## Embedders against the anchors (`benchmarks/embeddings.py --front`)\n\n" + text)
    figure, axis = plt.subplots(figsize=(7, 4.5))
    for r in rows:
        marker = "*" if r.get("anchor") else ("o" if r["backend"] == "torch-fp32" else "s")
        axis.scatter(r["paragraphs_per_s"], r["ndcg@10"], marker=marker, s=60 if r.get("anchor") else 30)
        axis.annotate(f"{r['model']}, {r['backend']}" if not r.get("anchor") else r["model"], (r["paragraphs_per_s"], r["ndcg@10"]),
                      fontsize=5, xytext=(3, 2), textcoords="offset points")
    axis.set_xscale("log")
    axis.axhline(dense["ndcg@10"] - 1.5, color="grey", linewidth=0.7, linestyle="--")  # the quality limit
    if anchor:  # the speed target: twice the anchor's paragraphs a second
        axis.axvline(2 * anchor["paragraphs_per_s"], color="grey", linewidth=0.7, linestyle=":")
    axis.set_xlabel("SQuAD dev paragraphs a second, batch 32 (log); dotted: 2x the OpenVINO static int8 route")
    axis.set_ylabel("SQuAD retrieval NDCG@10")
    figure.tight_layout()
    figure.savefig(RESULTS.with_name("embeddings_front.png"), dpi=140)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", help="folder with models/ and data/ (default $BERTPRESS_SHARED or ../shared)")
    parser.add_argument("--ratios", default="0.7,0.5,0.35,0.25")
    parser.add_argument("--methods", default="prune,iterative,distill,layers")
    parser.add_argument("--max-questions", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--no-int8", action="store_true")
    parser.add_argument("--front", action="store_true",
                        help="the anchors' comparison instead: SQuAD-text models on every backend against embedding_anchors.json")
    parser.add_argument("--front-backends", default=",".join(FRONT_BACKENDS))
    parser.add_argument("--front-tables", action="store_true", help="only write the stored front's tables again")
    parser.add_argument("--cells", help="--front: only these cells (comma-separated names), merged into the stored front")
    parser.add_argument("--print-only", action="store_true",
                        help="--front: print the rows, store nothing (timings of a machine other than the stored front's)")
    parser.add_argument("--model2vec", help="--front: a model2vec folder (embedding_anchors.py --model2vec-output), its encoder scored in the same run")
    parser.add_argument("--note", help="what else ran on the machine meanwhile (shown with the results)")
    args = parser.parse_args()
    shared = shared_dir(args.shared)
    if args.front_tables:  # after embedding_anchors.py ran: the stored front with the anchors
        write_front(json.loads(FRONT_STORE.read_text()))
        return
    if args.front:
        only = set(args.cells.split(",")) if args.cells else None
        run_front(shared, tuple(args.front_backends.split(",")), args.note, only, args.model2vec, not args.print_only)
        return
    store = json.loads(STORE.read_text()) if STORE.is_file() else {}
    store["max_questions"] = args.max_questions
    scorer = Scorer(shared, args.max_questions, held_out_sentences(shared))
    text = calibration_text(shared)
    if not any(r["method"] == "dense" for r in store.get("runs", [])):
        save_rows(store, dense_rows(scorer, not args.no_int8))
        write_tables(store)
    for ratio in [float(r) for r in args.ratios.split(",") if r]:
        for method in [m for m in args.methods.split(",") if m]:
            rows = run_cell(scorer, text, method, ratio, args.epochs, not args.no_int8)
            save_rows(store, rows)
            write_tables(store)
            for r in rows:
                print(f"{method} {ratio} {r['backend']}: STS-B {r['spearman']:.2f}, NDCG@10 {r['ndcg@10']:.2f}, "
                      f"agreement {r['agreement']:.2f}, speedup b32 {r['speedup_b32']:.2f}x, {r['seconds']:.0f} s",
                      flush=True)
    print((RESULTS.read_text().split("<!-- embeddings:start -->")[1]).split("<!-- embeddings:end -->")[0])


if __name__ == "__main__":
    main()
