"""Unlabeled text for sentence-embedding models: files of lines, a table's column, a SQuAD
file's paragraphs and questions (several files pool their texts), the sentences of a registered
task's training split (labels ignored, never the evaluation data), or, when none is given, the
text sample shipped in the package (``text_sample``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import BertpressError
from .sampling import draw_groups
from .sources import DataSource, load_split
from .squad import is_squad_document, squad_pairs, squad_texts
from .tasks import DEFAULT_LENGTH, get_task
from .text_sample import SAMPLE_NAME, sample_texts
from .unlabeled import TABLES, table_column, text_lines

# Tokens per text for passage-length text (a SQuAD file: paragraphs average about 150 tokens and
# few pass 256); other text is cut at DEFAULT_LENGTH, as sentences are.
PASSAGE_LENGTH = 256


def text_files(text_file: str | Sequence[str] | None) -> tuple[str, ...]:
    """The files a ``text_file`` field names: none, one path, or several whose texts are pooled."""
    if text_file is None:
        return ()
    return (text_file,) if isinstance(text_file, (str, Path)) else tuple(text_file)


def text_file_field(text_file: str | Sequence[str] | None) -> str | tuple[str, ...] | None:
    """A ``text_file`` field as configs hold it (and recipes write it): None, a path, or a tuple of several."""
    files = text_files(text_file)
    return None if not files else str(files[0]) if len(files) == 1 else tuple(str(path) for path in files)


def text_length(text_file: str | Sequence[str] | None) -> int:
    """The tokens per text that the files' texts need: passages (any SQuAD file among them) get PASSAGE_LENGTH."""
    squad = any(Path(path).is_file() and is_squad_document(path) for path in text_files(text_file))
    return PASSAGE_LENGTH if squad else DEFAULT_LENGTH


@dataclass(frozen=True)
class TextSource:
    """Where the text comes from: ``text_file``, one file or several pooled (with ``text_column``
    for tables), ``task``'s training split, or with neither the shipped sample."""

    text_file: str | Sequence[str] | None = None
    text_column: str | None = None
    task: str | None = None
    data: DataSource = DataSource()

    def __post_init__(self):
        if self.files and self.task is not None:
            raise BertpressError("give the text as text files or as a task whose training sentences to use, not both")

    @property
    def files(self) -> tuple[str, ...]:
        return text_files(self.text_file)

    def describe(self) -> str:
        if self.files:
            return " + ".join(str(path) for path in self.files)
        return f"{self.task} training sentences" if self.task is not None else SAMPLE_NAME

    def load(self) -> list[str]:
        """Every distinct text, in the order first seen."""
        texts = list(dict.fromkeys(text for text in self._texts() if text.strip()))
        if not texts:
            raise BertpressError(f"{self.describe()} has no text")
        return texts

    def query_passage_groups(self) -> list[tuple[str, ...]]:
        """The text in groups that belong in one batch: each question of the SQuAD files with its
        paragraph, then every distinct text of the other files alone."""
        self.check_query_passage_pairs()
        paths = self._paths()
        self._check_column(paths)
        pairs = [pair for path in paths if is_squad_document(path) for pair in squad_pairs(path)]
        others = [text for path in paths if not is_squad_document(path) for text in self._file_texts(path)]
        return pairs + [(text,) for text in dict.fromkeys(others) if text.strip()]

    def check_query_passage_pairs(self) -> None:
        """Query–passage pairs come from a SQuAD file among the text files."""
        if not any(is_squad_document(path) for path in self._paths()):
            raise BertpressError(
                f"query-passage pairs need a SQuAD JSON file among the text files (its questions and their paragraphs); "
                f"the text is {self.describe()}"
            )

    def _texts(self) -> list[str]:
        if not self.files:
            return self._task_texts() if self.task is not None else sample_texts()
        paths = self._paths()
        self._check_column(paths)
        return [text for path in paths for text in self._file_texts(path)]

    def _paths(self) -> list[Path]:
        paths = [Path(path) for path in self.files]
        for path in paths:
            if not path.is_file():
                raise BertpressError(f"text file not found: {path}")
        return paths

    def _check_column(self, paths: list[Path]) -> None:
        """A text column names a column of the tables among the files; with none it is a mistake."""
        if self.text_column is None or any(_is_table(path) for path in paths):
            return
        if len(paths) == 1 and is_squad_document(paths[0]):
            raise BertpressError(
                f"--text-column does not apply to {paths[0].name}, a SQuAD file (its paragraphs and questions are the text)"
            )
        names = ", ".join(path.name for path in paths)
        raise BertpressError(f"--text-column applies to .csv, .tsv and .jsonl files, not to {names}")

    def _file_texts(self, path: Path) -> list[str]:
        if is_squad_document(path):
            return squad_texts(path)
        if _is_table(path):
            return table_column(path, self.text_column or "text")
        return text_lines(path)

    def _task_texts(self) -> list[str]:
        examples = load_split(get_task(self.task), "train", self.data)
        columns = [name for name in ("text_a", "text_b") if name in examples.column_names]
        return [text for name in columns for text in list(examples[name])]


def _is_table(path: Path) -> bool:
    return path.suffix.lower() in TABLES and not is_squad_document(path)


def split_texts(texts: list[str], num_samples: int, held_out: int, seed: int) -> tuple[list[str], list[str]]:
    """A seeded calibration sample and, from the rest, up to ``held_out`` texts to judge agreement on
    (taken from the sample itself when the rest is empty, which the caller may report)."""
    order = np.random.default_rng(seed).permutation(len(texts))
    chosen = [texts[i] for i in order[:num_samples]]
    rest = [texts[i] for i in order[num_samples : num_samples + held_out]]
    return chosen, rest or chosen[:held_out]


def split_groups(groups: list[tuple[str, ...]], num_samples: int, held_out: int, seed: int) -> tuple[list[str], list[str]]:
    """``split_texts`` for grouped text: seeded whole groups up to ``num_samples`` texts, each group's
    texts next to each other and the groups ordered by their longest text (characters stand in for
    tokens: batches cut in order pad little), and up to ``held_out`` distinct texts of the other
    groups that calibration does not read (a paragraph belongs to one pair per question)."""
    drawn = draw_groups([len(group) for group in groups], num_samples, seed)
    chosen = sorted((groups[index] for index in drawn), key=lambda group: max(map(len, group)))
    texts = [text for group in chosen for text in group]
    seen, held = set(texts), {}
    for index in np.random.default_rng(seed + 1).permutation(len(groups)).tolist():
        for text in groups[index]:
            if len(held) < held_out and text not in seen:
                held.setdefault(text)
        if len(held) == held_out:
            break
    return texts, list(held) or texts[:held_out]
