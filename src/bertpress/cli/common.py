"""Options shared by the subcommands, and printing a report."""

from __future__ import annotations

import argparse

from ..data.calibration import Calibration
from ..data.sources import GLUE_DIR_ENV, DataSource
from ..data.tasks import TASKS
from ..measure.latency import LatencySetting
from ..outputs import write_json
from ..reports import Report


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


def column_names(text: str) -> tuple[str, ...]:
    """An argparse type: comma-separated column names."""
    return tuple(name.strip() for name in text.split(","))


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
        type=column_names,
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


def emit(args: argparse.Namespace, report: Report) -> None:
    """Print the report's table; write its JSON when ``--json`` was given."""
    print(report.render())
    if getattr(args, "json", None):
        write_json(args.json, report.to_dict())


def add_output_options(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--output", required=True, metavar="DIR", help=f"folder to write {what} to")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace --output if it exists and is not empty (never the input model's folder)",
    )


def add_calibration_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("calibration")
    group.add_argument(
        "--num-samples", type=positive_int, default=2048, help="training examples to calibrate on (default 2048)"
    )
    group.add_argument("--seed", type=int, default=0, help="seed for the calibration sample (default 0)")


def calibration(args: argparse.Namespace) -> Calibration:
    return Calibration(num_samples=args.num_samples, seed=args.seed, max_length=args.max_length)


def add_latency_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("latency measurement (the speedup, and latency budgets)")
    group.add_argument("--batch-size", type=positive_int, default=32, help="batch size (default 32)")
    group.add_argument("--seq-length", type=positive_int, default=128, help="sequence length (default 128)")
    group.add_argument("--device", default="cpu", help="device, e.g. cpu or cuda (default cpu)")
    group.add_argument(
        "--min-time", type=number, default=1.0, metavar="SECONDS", help="timing per measurement (default 1)"
    )


def latency_setting(args: argparse.Namespace) -> LatencySetting:
    return LatencySetting(
        batch_size=args.batch_size, seq_length=args.seq_length, device=args.device, min_run_time=args.min_time
    )


def number(text: str) -> float:
    """An argparse type: a number (its range is checked where it is used, with the reason)."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, not '{text}'") from None


def add_checkpoint_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("checkpoints (of training steps)")
    group.add_argument(
        "--checkpoints",
        metavar="DIR",
        help="where each epoch is checkpointed (default OUTPUT.checkpoints; removed when the run succeeds)",
    )
    group.add_argument(
        "--resume", metavar="DIR", help="continue an interrupted run of the same command from its checkpoint folder"
    )


def checkpoint_folder(args: argparse.Namespace) -> str:
    return args.checkpoints or f"{str(args.output).rstrip('/')}.checkpoints"
