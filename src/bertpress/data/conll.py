"""Reading CoNLL column files (one token a line, a blank line between sentences) for token classification.

Tags must be IOB2: an entity starts with ``B-TYPE``, so two entities of one type side by side stay two.
A file in IOB1 (CoNLL-2003's original, where ``I-`` may start an entity) is refused with the line to
look at, rather than read into spans that differ from the ones it was scored with.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from datasets import Dataset, Features, List, Value

from ..errors import BertpressError

FEATURES = Features({"tokens": List(Value("string")), "tags": List(Value("string"))})

IOB2_RULE = "O, B-TYPE, or I-TYPE continuing the same TYPE"


def read_conll(path: str | Path, *, label_column: int = -1) -> Dataset:
    """``tokens`` (the first column) and ``tags`` (column ``label_column``, negative from the end) per sentence."""
    path = Path(path)
    if label_column == 0:
        raise BertpressError("label_column 0 is the token column; give the tags' column (-1 for the last)")
    needed = label_column + 1 if label_column > 0 else 1 - label_column
    sentences: dict[str, list[list[str]]] = {"tokens": [], "tags": []}
    tokens: list[str] = []
    tags: list[str] = []
    lines: list[int] = []  # the line of each tag, to point at a bad one
    for number, line in enumerate(_lines(path), start=1):
        columns = line.split()
        if columns and columns[0] != "-DOCSTART-":
            if len(columns) < needed:
                plural = "" if len(columns) == 1 else "s"
                raise BertpressError(
                    f"{path}:{number}: the line has {len(columns)} column{plural}; "
                    f"label_column {label_column} needs at least {needed}"
                )
            tokens.append(columns[0])
            tags.append(columns[label_column])
            lines.append(number)
            continue
        if tokens:  # a blank line or a document start ends the sentence
            _check_sentence(path, tags, lines)
            sentences["tokens"].append(tokens)
            sentences["tags"].append(tags)
            tokens, tags, lines = [], [], []
    if tokens:
        _check_sentence(path, tags, lines)
        sentences["tokens"].append(tokens)
        sentences["tags"].append(tags)
    if not sentences["tokens"]:
        raise BertpressError(f"{path} has no examples")
    return Dataset.from_dict(sentences, features=FEATURES)


def check_iob2(tags: Sequence[str]) -> str | None:
    """Why ``tags`` is not an IOB2 sequence, or None when it is."""
    index = _first_bad_tag(tags)
    if index is None:
        return None
    return f"tag '{tags[index]}' at position {index} is not IOB2 ({IOB2_RULE})"


def _first_bad_tag(tags: Sequence[str]) -> int | None:
    previous_type = None  # the TYPE an I- tag may continue: that of the tag before, if B- or I-
    for index, tag in enumerate(tags):
        if tag == "O":
            previous_type = None
            continue
        prefix, entity_type = tag[:2], tag[2:]
        if not entity_type or prefix not in ("B-", "I-") or (prefix == "I-" and entity_type != previous_type):
            return index
        previous_type = entity_type
    return None


def _check_sentence(path: Path, tags: list[str], lines: list[int]) -> None:
    index = _first_bad_tag(tags)
    if index is not None:
        raise BertpressError(f"{path}:{lines[index]}: tag '{tags[index]}' is not IOB2 ({IOB2_RULE})")


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        raise BertpressError(f"data file not found: {path}")
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise BertpressError(f"{path}:{line}: not UTF-8 text") from error
