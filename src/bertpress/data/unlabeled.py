"""Text without labels, for distillation: the teacher labels it.

A table (``.csv``, ``.tsv``, ``.jsonl``) gives its text column(s) (the task's by default, or
``columns``); any other file is one example per line, a tab between the two texts of a pair.
"""

from __future__ import annotations

from pathlib import Path

from datasets import Dataset

from ..errors import BertpressError
from .sources import _read_file
from .tasks import Columns, Task

TABLES = (".csv", ".tsv", ".jsonl", ".json")


def load_unlabeled(path: str | Path, task: Task, columns: tuple[str, ...] | None = None) -> Dataset:
    """``text_a`` [, ``text_b``] of every example in ``path``, as the task's inputs need them."""
    path = Path(path)
    if not path.is_file():
        raise BertpressError(f"unlabeled file not found: {path}")
    wanted = len(task.columns.text)
    if path.suffix.lower() in TABLES:
        texts = _table_texts(path, columns or task.columns.text)
    else:
        texts = _line_texts(path, wanted)
    if len(texts) != wanted:
        raise BertpressError(f"{path}: task '{task.name}' takes {wanted} text(s) per example, not {len(texts)}")
    if not texts[0]:
        raise BertpressError(f"{path} has no examples")
    return Dataset.from_dict(dict(zip(("text_a", "text_b"), texts)))


def _table_texts(path: Path, columns: tuple[str, ...]) -> list[list[str]]:
    table = _read_file(path, Columns(columns))
    missing = [name for name in columns if name not in table.column_names]
    if missing:
        raise BertpressError(f"{path} has no column '{missing[0]}' (columns: {', '.join(table.column_names)})")
    return [[str(text) for text in table[name]] for name in columns]


def table_column(path: Path, column: str) -> list[str]:
    """The texts of one column of a .csv, .tsv or .jsonl file."""
    return _table_texts(path, (column,))[0]


def text_lines(path: Path) -> list[str]:
    """The non-blank lines of a UTF-8 text file."""
    try:
        return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError as error:
        raise BertpressError(f"{path} is not UTF-8 text") from error


def _line_texts(path: Path, wanted: int) -> list[list[str]]:
    lines = text_lines(path)
    rows = [line.split("\t") if wanted == 2 else [line] for line in lines]
    for number, row in enumerate(rows, 1):
        if len(row) != wanted:
            raise BertpressError(f"{path}: example {number} has {len(row)} tab-separated text(s), the task takes {wanted}")
    return [list(texts) for texts in zip(*rows)] if rows else [[] for _ in range(wanted)]
