"""The anchors of the embeddings benchmark that need another environment: sentence-transformers'
own OpenVINO fp32 and static int8 routes (optimum-intel pins transformers below 5.6) and model2vec's
distillation (it pins transformers below 5.4). Run it with that environment's Python, alone:

    SIDE/bin/python benchmarks/embedding_anchors.py --model MINILM_FOLDER --shared ../shared \\
        --tie FOLDER [--static FOLDER] [--model2vec-output DIR] [--output benchmarks/embedding_anchors.json]

It imports nothing from bertpress (bertpress needs transformers 5), and scores every model the way
``bertpress.measure.embeddings`` does: STS-B dev Spearman of cosine similarity x100; SQuAD v1.1 dev
retrieval, a seeded 1,000 of the questions (numpy's default_rng(0), sorted) against every
paragraph at 256 tokens, NDCG@10 and recall@10 with one relevant paragraph; and throughput, texts
a second encoding the first 1,500 STS-B dev sentences and the first 1,000 SQuAD dev paragraphs at
batch 32 (each timed twice, the faster kept). ``--tie`` is bertpress's own dense OpenVINO int8
export (``bertpress export --embedding --int8 --backend openvino``), loaded here through
sentence-transformers' OpenVINO backend: benchmarks/embeddings.py times it too, and the ratio of
its two throughputs carries these figures onto that run's clock. ``--static``: bertpress's static
embedder (``bertpress distill --static``), scored beside model2vec's.

Calibration text of the static int8 route: sentence-transformers' default, SST-2's training
sentences (300 of them, drawn by optimum-intel), read from the shared GLUE folder instead of the hub.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

BATCH = 32
SENTENCES, PARAGRAPHS, QUESTIONS = 1500, 1000, 1000


def read_tsv(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


def squad(path: Path) -> tuple[list[str], list[str], list[int]]:
    """Every paragraph in file order, every question, and each question's paragraph."""
    paragraphs, questions, gold = [], [], []
    for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
        for paragraph in article["paragraphs"]:
            questions += [qa["question"] for qa in paragraph["qas"]]
            gold += [len(paragraphs)] * len(paragraph["qas"])
            paragraphs.append(paragraph["context"])
    return paragraphs, questions, gold


class Texts:
    def __init__(self, shared: Path):
        stsb = read_tsv(shared / "data" / "glue" / "STS-B" / "dev.tsv")
        self.sts_pairs = [(row["sentence1"], row["sentence2"], float(row["score"])) for row in stsb]
        self.paragraphs, questions, gold = squad(shared / "data" / "squad" / "dev-v1.1.json")
        chosen = np.sort(np.random.default_rng(0).choice(len(questions), QUESTIONS, replace=False))
        self.questions, self.gold = [questions[i] for i in chosen], np.asarray([gold[i] for i in chosen])
        self.sentences = [first for first, _, _ in self.sts_pairs][:SENTENCES]
        self.calibration = [row["sentence"] for row in read_tsv(shared / "data" / "glue" / "SST-2" / "train.tsv")]


def unit(vectors) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.as_tensor(np.asarray(vectors), dtype=torch.float32), dim=-1)


def score(encode, texts: Texts) -> dict:
    """STS-B, retrieval and throughput of ``encode(list_of_texts) -> array``."""
    first = unit(encode([a for a, _, _ in texts.sts_pairs]))
    second = unit(encode([b for _, b, _ in texts.sts_pairs]))
    cosine = (first * second).sum(-1).numpy()
    spearman = 100 * spearmanr(cosine, [gold for _, _, gold in texts.sts_pairs]).statistic
    documents, queries = unit(encode(texts.paragraphs)), unit(encode(texts.questions))
    scores = queries @ documents.T
    target = scores[torch.arange(len(queries)), torch.from_numpy(texts.gold)]
    ranks = ((scores > target[:, None]).sum(1) + 1).double()
    top10 = ranks <= 10
    return {
        "spearman": round(float(spearman), 4),
        "ndcg@10": round(100 * float(torch.where(top10, 1 / torch.log2(ranks + 1), 0).mean()), 4),
        "recall@10": round(100 * float(top10.double().mean()), 4),
        "sentences_per_s": throughput(encode, texts.sentences),
        "paragraphs_per_s": throughput(encode, texts.paragraphs[:PARAGRAPHS]),
    }


def throughput(encode, texts: list[str]) -> float:
    seconds = []
    for _ in range(2):
        started = time.perf_counter()
        encode(texts)
        seconds.append(time.perf_counter() - started)
    return round(len(texts) / min(seconds), 2)


def st_encoder(model):
    return lambda texts: model.encode(texts, batch_size=BATCH, convert_to_numpy=True, show_progress_bar=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="the all-MiniLM-L6-v2 sentence-transformers folder")
    parser.add_argument("--shared", required=True, help="the shared folder (data/glue, data/squad)")
    parser.add_argument("--tie", required=True, help="bertpress's dense OpenVINO int8 export of the same model")
    parser.add_argument("--static", help="bertpress's static embedder folder, scored beside model2vec's")
    parser.add_argument("--model2vec-output", help="also save model2vec's distilled model here (embeddings.py --front --model2vec times its encoder in the main environment)")
    parser.add_argument("--output", default=str(Path(__file__).with_name("embedding_anchors.json")))
    args = parser.parse_args()
    torch.set_num_threads(2)
    from model2vec.distill import distill
    from optimum.intel import OVQuantizationConfig
    from sentence_transformers import SentenceTransformer, export_static_quantized_openvino_model

    texts = Texts(Path(args.shared))
    rows = {}
    packages = ("torch", "transformers", "sentence-transformers", "optimum-intel", "openvino", "model2vec")
    record = {"machine": f"{platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}",
              "versions": {name: metadata.version(name) for name in packages}, "date": time.strftime("%Y-%m-%d"),
              "rows": rows}

    def run(name: str, encode, **extra) -> None:
        rows[name] = {**score(encode, texts), **extra}
        print(name, rows[name], flush=True)
        Path(args.output).write_text(json.dumps(record, indent=2) + "\n")  # each row kept as it comes

    run("dense torch fp32 (sentence-transformers)", st_encoder(SentenceTransformer(args.model, device="cpu")))
    with tempfile.TemporaryDirectory() as scratch:
        fp32 = SentenceTransformer(args.model, device="cpu", backend="openvino")
        run("dense openvino fp32 (sentence-transformers)", st_encoder(fp32))
        fp32.save(scratch)
        calibration = Path(scratch) / "calibration"  # a local dataset folder that datasets.load_dataset reads
        calibration.mkdir()
        (calibration / "train.jsonl").write_text("".join(json.dumps({"sentence": s}) + "\n" for s in texts.calibration))
        started = time.perf_counter()
        export_static_quantized_openvino_model(
            fp32, quantization_config=OVQuantizationConfig(), model_name_or_path=scratch,
            dataset_name=str(calibration), dataset_config_name="default", dataset_split="train", column_name="sentence",
        )
        seconds = round(time.perf_counter() - started, 1)
        int8 = SentenceTransformer(scratch, device="cpu", backend="openvino",
                                   model_kwargs={"file_name": "openvino/openvino_model_qint8_quantized.xml"})
        run("dense openvino static int8 (sentence-transformers)", st_encoder(int8), seconds=seconds)
    tie = SentenceTransformer(args.tie, device="cpu", backend="openvino",
                              model_kwargs={"file_name": "openvino/openvino_model_qint8_quantized.xml"})
    run("tie: bertpress dense openvino int8", st_encoder(tie))
    started = time.perf_counter()
    static = distill(model_name=args.model, pca_dims=256, device="cpu")
    seconds = round(time.perf_counter() - started, 1)
    run("model2vec distill (256 dims)", lambda batch: static.encode(batch, batch_size=BATCH), seconds=seconds)
    if args.model2vec_output:
        static.save_pretrained(args.model2vec_output)
    if args.static:
        run("bertpress static (sentence-transformers)", st_encoder(SentenceTransformer(args.static, device="cpu")))


if __name__ == "__main__":
    main()
