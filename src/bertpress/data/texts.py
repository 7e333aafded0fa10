"""Unlabeled text for sentence-embedding models: a file of lines, a table's column, a SQuAD
file's paragraphs and questions, the sentences of a registered task's training split (labels
ignored, never the evaluation data), or, when none is given, the text sample shipped in the
package (``text_sample``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import BertpressError
from .sources import DataSource, load_split
from .squad import is_squad_document, squad_texts
from .tasks import DEFAULT_LENGTH, get_task
from .text_sample import SAMPLE_NAME, sample_texts
from .unlabeled import TABLES, table_column, text_lines

# Tokens per text for passage-length text (a SQuAD file: paragraphs average about 150 tokens and
# few pass 256); other text is cut at DEFAULT_LENGTH, as sentences are.
PASSAGE_LENGTH = 256


def text_length(text_file: str | None) -> int:
    """The tokens per text that ``text_file``'s texts need: passages get PASSAGE_LENGTH."""
    return PASSAGE_LENGTH if text_file and Path(text_file).is_file() and is_squad_document(text_file) else DEFAULT_LENGTH


@dataclass(frozen=True)
class TextSource:
    """Where the text comes from: ``text_file`` (with ``text_column`` for a table), ``task``'s
    training split, or with neither the shipped sample."""

    text_file: str | None = None
    text_column: str | None = None
    task: str | None = None
    data: DataSource = DataSource()

    def __post_init__(self):
        if self.text_file is not None and self.task is not None:
            raise BertpressError("give the text as a text file or as a task whose training sentences to use, not both")

    def describe(self) -> str:
        if self.text_file is not None:
            return self.text_file
        return f"{self.task} training sentences" if self.task is not None else SAMPLE_NAME

    def load(self) -> list[str]:
        """Every distinct text, in the order first seen."""
        texts = list(dict.fromkeys(text for text in self._texts() if text.strip()))
        if not texts:
            raise BertpressError(f"{self.describe()} has no text")
        return texts

    def _texts(self) -> list[str]:
        if self.text_file is not None:
            return self._file_texts()
        return self._task_texts() if self.task is not None else sample_texts()

    def _file_texts(self) -> list[str]:
        path = Path(self.text_file)
        if not path.is_file():
            raise BertpressError(f"text file not found: {path}")
        if is_squad_document(path):
            if self.text_column is not None:
                raise BertpressError(f"--text-column does not apply to {path.name}, a SQuAD file (its paragraphs and questions are the text)")
            return squad_texts(path)
        if path.suffix.lower() in TABLES:
            return table_column(path, self.text_column or "text")
        if self.text_column is not None:
            raise BertpressError(f"--text-column applies to .csv, .tsv and .jsonl files, not to {path.name}")
        return text_lines(path)

    def _task_texts(self) -> list[str]:
        examples = load_split(get_task(self.task), "train", self.data)
        columns = [name for name in ("text_a", "text_b") if name in examples.column_names]
        return [text for name in columns for text in list(examples[name])]


def split_texts(texts: list[str], num_samples: int, held_out: int, seed: int) -> tuple[list[str], list[str]]:
    """A seeded calibration sample and, from the rest, up to ``held_out`` texts to judge agreement on
    (taken from the sample itself when the rest is empty, which the caller may report)."""
    order = np.random.default_rng(seed).permutation(len(texts))
    chosen = [texts[i] for i in order[:num_samples]]
    rest = [texts[i] for i in order[num_samples : num_samples + held_out]]
    return chosen, rest or chosen[:held_out]
