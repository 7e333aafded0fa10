"""Reading a task's split from a GLUE folder, a custom CSV/TSV/JSONL file, or the Hugging Face hub.

A sentence task's readers return the same shape: ``text_a``, optional ``text_b`` and ``label`` (a
class index, or a float for regression). Question answering reads SQuAD files (``id``,
``question``, ``context``, ``answers``) and named entities CoNLL column files (``tokens``,
``tags``). Tokenization and evaluation never see where the data came from.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import datasets
from datasets import ClassLabel, Dataset, Features, Value, load_dataset

from ..errors import BertpressError
from .conll import read_conll
from .squad import read_squad
from .tasks import DOC_STRIDE, GLUE_DIR_ENV, Columns, Task

# Builder and options per file suffix (any other suffix reads as TSV). GLUE's TSVs hold unbalanced
# quotes (so no quoting), MRPC starts with a byte-order mark, and "NA"/"null" are words, not gaps.
_TSV = ("csv", {"delimiter": "\t", "quoting": csv.QUOTE_NONE, "keep_default_na": False, "encoding": "utf-8-sig"})
_READERS = {
    ".tsv": _TSV,
    ".txt": _TSV,
    ".csv": ("csv", {"keep_default_na": False, "encoding": "utf-8-sig"}),
    ".jsonl": ("json", {}),
    ".json": ("json", {}),
}

# How datasets (a header but no rows) and pandas (an empty file) say that a file holds no rows.
_NO_ROWS = ('Instruction "train" corresponds to no data', "No columns to parse from file")


@dataclass(frozen=True)
class DataSource:
    """Where examples come from: custom files win, then a GLUE folder, then the hub."""

    data_dir: str | None = None  # None -> $BERTPRESS_GLUE_DIR -> hub
    train_file: str | None = None
    dev_file: str | None = None
    text_columns: tuple[str, ...] | None = None
    label_column: str | None = None  # a CoNLL file's tag column: its number, from 0 (negative: from the end)
    doc_stride: int = DOC_STRIDE  # tokens shared by consecutive windows of a long QA context

    @property
    def glue_dir(self) -> str | None:
        return self.data_dir or os.environ.get(GLUE_DIR_ENV)

    def input_paths(self) -> tuple[str, ...]:
        """The local files and folders examples may be read from (no output may replace them)."""
        return tuple(path for path in (self.glue_dir, self.train_file, self.dev_file) if path)


def load_split(task: Task, split: str, source: DataSource) -> Dataset:
    """The examples of ``split`` in the task's shape (see the module's docstring); raises if none are usable."""
    split = task.resolve_split(split)
    if task.task_head in _FILE_READERS:
        return _load_task_file(task, split, source)
    custom_file = source.train_file if split == "train" else source.dev_file
    if custom_file:
        columns = Columns(source.text_columns or task.columns.text, source.label_column or task.columns.label)
        return _standardize(_read_file(Path(custom_file), columns), columns, task, custom_file)
    if source.glue_dir:
        return _load_glue_file(task, split, Path(source.glue_dir))
    return _load_from_hub(task, split)


def _load_glue_file(task: Task, split: str, data_dir: Path) -> Dataset:
    if not data_dir.is_dir():
        raise BertpressError(f"data folder not found: {data_dir}")
    if task.glue_files is None:
        raise BertpressError(f"task '{task.name}' has no files in the GLUE layout; use --train-file/--dev-file")
    path = data_dir / task.glue_files.folder / f"{split}.tsv"
    if not path.is_file():
        raise BertpressError(
            f"no {task.glue_files.folder}/{split}.tsv in {data_dir} (expected the layout of the GLUE download script)"
        )
    columns = task.glue_files.columns
    return _standardize(_read_file(path, columns), columns, task, str(path))


def _read_squad(path: Path, source: DataSource) -> Dataset:
    return read_squad(path)


def _read_conll(path: Path, source: DataSource) -> Dataset:
    column = source.label_column or "-1"
    try:
        index = int(column)
    except ValueError:
        raise BertpressError(f"--label-column of a CoNLL file is a column number (e.g. 3 or -1), not '{column}'") from None
    return read_conll(path, label_column=index)


# Readers of the tasks whose files are not tables: task head -> reader(path, source).
_FILE_READERS = {"span_qa": _read_squad, "token_classification": _read_conll}


def _load_task_file(task: Task, split: str, source: DataSource) -> Dataset:
    """A QA or NER split: --train-file/--dev-file (dev also stands for test), then --data-dir, then the hub."""
    custom_file = source.train_file if split == "train" else source.dev_file
    if custom_file:
        return _FILE_READERS[task.task_head](Path(custom_file), source)
    if source.data_dir:
        folder = Path(source.data_dir)
        if not folder.is_dir():
            raise BertpressError(f"data folder not found: {folder}")
        name = dict(task.split_files)[split]
        if not (folder / name).is_file():
            raise BertpressError(f"no {name} in {folder} (task '{task.name}' reads {', '.join(dict(task.split_files).values())})")
        return _FILE_READERS[task.task_head](folder / name, source)
    return _from_hub_layout(task, _load_from_hub_raw(task, split))


def _from_hub_layout(task: Task, dataset: Dataset) -> Dataset:
    """The hub's SQuAD as it is; the hub's CoNLL-2003 with its tag numbers as names."""
    if task.task_head == "span_qa":
        return dataset.select_columns(["id", "question", "context", "answers"])
    names = dataset.features["ner_tags"].feature.names
    others = [name for name in dataset.column_names if name != "tokens"]
    return dataset.map(lambda row: {"tags": [names[tag] for tag in row["ner_tags"]]}, remove_columns=others)


def _load_from_hub(task: Task, split: str) -> Dataset:
    hub_split = task.hub_split(split)
    return _standardize(_load_from_hub_raw(task, split), task.columns, task, f"{task.hub[0]} ({task.hub[1]}, {hub_split})")


def _load_from_hub_raw(task: Task, split: str) -> Dataset:
    if task.hub is None:
        raise BertpressError(f"task '{task.name}' has no hub dataset; pass --data-dir or --train-file/--dev-file")
    hub_split = task.hub_split(split)
    try:
        dataset = load_dataset(*(part for part in task.hub if part), split=hub_split)
    except (OSError, ValueError) as error:  # ConnectionError and DatasetNotFoundError are OSErrors
        where = "--data-dir" if task.split_files else f"--data-dir or set {GLUE_DIR_ENV}"
        raise BertpressError(
            f"could not load {task.hub[0]} from the Hugging Face hub ({_last_line(error)}); pass {where}"
        ) from error
    return dataset


def _read_file(path: Path, columns: Columns) -> Dataset:
    if not path.is_file():
        raise BertpressError(f"data file not found: {path}")
    builder, options = _READERS.get(path.suffix.lower(), _TSV)
    if columns.header is not None:
        options = {**options, "header": None, "column_names": list(columns.header)}
    try:
        with _quiet_datasets():
            return load_dataset(builder, data_files=str(path), split="train", **options)
    except (datasets.exceptions.DatasetGenerationError, ValueError) as error:
        # pandas' ParserError ("Expected 4 fields in line 3, saw 5") arrives wrapped; show its words.
        reason = _root_cause(error)
        if any(words in reason for words in _NO_ROWS):
            raise BertpressError(f"{path} has no examples") from error
        raise BertpressError(f"could not read {path}: {reason}") from error


def _standardize(dataset: Dataset, columns: Columns, task: Task, origin: str) -> Dataset:
    """Keep the text and label columns under their common names, with the label as the task needs it."""
    if len(columns.text) not in (1, 2):
        raise BertpressError(f"give one or two text columns, not {len(columns.text)}")
    wanted = (*columns.text, columns.label)
    missing = [name for name in wanted if name not in dataset.column_names]
    if missing:
        raise BertpressError(f"{origin} has no column '{missing[0]}' (columns: {', '.join(dataset.column_names)})")
    if len(dataset) == 0:
        raise BertpressError(f"{origin} has no examples")
    names = ("text_a", "text_b")[: len(columns.text)]
    dataset = dataset.select_columns(list(wanted)).rename_columns(
        {**dict(zip(columns.text, names)), columns.label: "label"}
    )
    label = Value("float32") if task.is_regression else ClassLabel(names=list(task.label_names))
    try:
        with _quiet_datasets():
            # Casting to ClassLabel maps label names ("entailment") and digit strings ("1") to indices.
            dataset = dataset.cast(Features({name: Value("string") for name in names} | {"label": label}))
    except (ValueError, TypeError) as error:
        raise BertpressError(f"{origin}: bad label in column '{columns.label}': {_root_cause(error)}") from error
    if not task.is_regression and min(dataset["label"]) < 0:
        raise BertpressError(f"{origin} has unlabelled examples (label -1); use a split with labels")
    return dataset


@contextmanager
def _quiet_datasets() -> Iterator[None]:
    """No progress bars or log lines from ``datasets`` while reading: a bad file gets one clear error."""
    bars_were_on = datasets.is_progress_bar_enabled()
    verbosity = datasets.logging.get_verbosity()
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity(datasets.logging.CRITICAL + 1)
    try:
        yield
    finally:
        datasets.logging.set_verbosity(verbosity)
        if bars_were_on:
            datasets.enable_progress_bars()


def _root_cause(error: BaseException) -> str:
    while error.__cause__ is not None or error.__context__ is not None:
        error = error.__cause__ or error.__context__
    return _last_line(error).removeprefix("Error tokenizing data. C error: ")


def _last_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[-1] if text else type(error).__name__
