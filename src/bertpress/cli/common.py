"""Options and output helpers shared by the subcommands."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from ..data.sources import GLUE_DIR_ENV, DataSource
from ..data.tasks import TASKS
from ..outputs import write_json


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", metavar="FILE", help="also write the result as JSON to FILE")


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, not '{text}'")
    return value


def add_data_options(parser: argparse.ArgumentParser) -> None:
    """The task and where its examples come from (see ``data.sources.DataSource``)."""
    group = parser.add_argument_group("data")
    group.add_argument("--task", required=True, help=f"task name: {', '.join(TASKS)}")
    group.add_argument(
        "--data-dir",
        metavar="DIR",
        help=f"folder in the GLUE download layout (SST-2/dev.tsv, ...); default ${GLUE_DIR_ENV}, else the hub",
    )
    group.add_argument("--train-file", metavar="FILE", help="custom training examples (.csv, .tsv or .jsonl)")
    group.add_argument("--dev-file", metavar="FILE", help="custom dev examples (.csv, .tsv or .jsonl)")
    group.add_argument(
        "--text-columns",
        metavar="A[,B]",
        type=lambda text: tuple(name.strip() for name in text.split(",")),
        help="the custom files' text column(s); default the task's (e.g. sentence1,sentence2)",
    )
    group.add_argument("--label-column", metavar="NAME", help="the custom files' label column; default 'label'")
    group.add_argument(
        "--max-length", type=positive_int, default=128, metavar="N", help="tokens per example (default 128)"
    )


def data_source(args: argparse.Namespace) -> DataSource:
    return DataSource(
        data_dir=args.data_dir,
        train_file=args.train_file,
        dev_file=args.dev_file,
        text_columns=args.text_columns,
        label_column=args.label_column,
    )


def emit(args: argparse.Namespace, result: dict[str, Any], table: str) -> None:
    """Print the readable table; write the JSON result when ``--json`` was given."""
    print(table)
    if getattr(args, "json", None):
        write_json(args.json, result)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain aligned text table (numbers right-aligned)."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    numeric = [all(_is_number(row[i]) for row in rows) if rows else False for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in cells)])


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)
