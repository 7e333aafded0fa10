"""The text sample shipped inside the package: 2,000 Wikipedia paragraphs and 4,000 questions from
SQuAD v1.1 (CC BY-SA 4.0; see ``sample/ATTRIBUTION.md``). A sentence embedder calibrates on it when
the user brings no text, so that a first run needs no data at hand. ``benchmarks/make_text_sample.py``
builds it.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

SAMPLE_FILE = Path(__file__).with_name("sample") / "squad-texts.jsonl.gz"  # one {"kind", "text"} per line
SAMPLE_NAME = "bertpress's text sample (Wikipedia paragraphs and questions from SQuAD v1.1, CC BY-SA 4.0)"
SAMPLE_DATASET = "rajpurkar/squad"  # the source's id on the Hugging Face hub (model cards name it)


def sample_texts() -> list[str]:
    """Every text of the sample, paragraphs first."""
    with gzip.open(SAMPLE_FILE, "rt", encoding="utf-8") as lines:
        return [json.loads(line)["text"] for line in lines]
