"""Build the text sample shipped in the package (``src/bertpress/data/sample/``): Wikipedia
paragraphs and questions from SQuAD v1.1's training set, which a sentence embedder calibrates on
when the user brings no text.

    python benchmarks/make_text_sample.py [--squad FILE] [--shared DIR]

``--squad`` defaults to ``data/squad/train-v1.1.json`` in the shared folder (``--shared``,
$BERTPRESS_SHARED or ../shared). The choice is seeded and spread over the articles (round-robin, each article's texts in
a seeded order), and the gzip header carries no time stamp, so the same input gives the same bytes.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import random
from pathlib import Path

from _results import shared_dir

from bertpress.data.text_sample import SAMPLE_FILE

PARAGRAPHS = 2000
QUESTIONS = 4000
SEED = 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--squad", metavar="FILE", help="SQuAD v1.1 train-v1.1.json")
    parser.add_argument("--shared", metavar="DIR", help="the shared folder (default $BERTPRESS_SHARED or ../shared)")
    args = parser.parse_args()
    articles = json.loads(squad_file(args).read_text(encoding="utf-8"))["data"]
    rng = random.Random(SEED)
    paragraphs = spread([[p["context"] for p in a["paragraphs"]] for a in articles], PARAGRAPHS, rng)
    questions = spread([[q["question"] for p in a["paragraphs"] for q in p["qas"]] for a in articles], QUESTIONS, rng)
    records = [{"kind": "paragraph", "text": text} for text in paragraphs]
    records += [{"kind": "question", "text": text} for text in questions]
    SAMPLE_FILE.write_bytes(gzipped_jsonl(records))
    size = SAMPLE_FILE.stat().st_size
    print(f"{SAMPLE_FILE}: {len(paragraphs)} paragraphs, {len(questions)} questions, {size} bytes")


def squad_file(args: argparse.Namespace) -> Path:
    path = Path(args.squad) if args.squad else shared_dir(args.shared) / "data" / "squad" / "train-v1.1.json"
    if not path.is_file():
        raise SystemExit(f"no SQuAD training file at {path}: pass --squad FILE or --shared DIR")
    return path


def spread(groups: list[list[str]], count: int, rng: random.Random) -> list[str]:
    """``count`` distinct texts taken round-robin over ``groups`` (articles), each in a seeded order,
    so that every article gives about the same number."""
    queues = [rng.sample(group, len(group)) for group in groups]
    chosen: dict[str, None] = {}
    while len(chosen) < count and any(queues):
        for queue in queues:
            if queue and len(chosen) < count:
                chosen[queue.pop()] = None
    return list(chosen)


def gzipped_jsonl(records: list[dict]) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as archive:
        for record in records:
            archive.write((json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))
    return buffer.getvalue()


if __name__ == "__main__":
    main()
