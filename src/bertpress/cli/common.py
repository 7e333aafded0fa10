"""Options shared by the subcommands, and printing a report."""

from __future__ import annotations

import argparse

from ..data.calibration import Calibration
from ..data.sources import GLUE_DIR_ENV, DataSource
from ..data.tasks import TASKS
from ..errors import BertpressError
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


def add_data_options(parser: argparse.ArgumentParser, task_required: bool = True) -> None:
    """The task and where its examples come from (see ``data.sources.DataSource``)."""
    group = parser.add_argument_group("data")
    if task_required:
        group.add_argument("--task", required=True, help=f"task name: {', '.join(TASKS)}")
    else:
        group.add_argument(
            "--task",
            help=f"task name: {', '.join(TASKS)} (with --embedding: optional, its training sentences are the text)",
        )
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


def add_embedding_options(parser: argparse.ArgumentParser) -> None:
    """Compressing a sentence-embedding model from unlabeled text (see ``steps.workload.EmbeddingSetup``)."""
    group = parser.add_argument_group("sentence embeddings (no labels)")
    group.add_argument(
        "--embedding",
        action="store_true",
        help="the model is a sentence embedder (a sentence-transformers folder): keep its embeddings, "
        "scored by agreement with the original (and STS-B cosine Spearman when GLUE data is at hand)",
    )
    group.add_argument(
        "--text-file", metavar="FILE", help="unlabeled text: one per line, or a .csv/.tsv/.jsonl column (--text-column)"
    )
    group.add_argument("--text-column", metavar="NAME", help="the text file's column, when it is a table (default 'text')")
    add_pooling_option(group)
    group.add_argument(
        "--embedding-loss",
        choices=("mse", "cosine"),
        default="mse",
        help="how embeddings are compared in pruning statistics and distillation (default mse)",
    )


def add_pooling_option(parser) -> None:
    parser.add_argument(
        "--pooling",
        choices=("mean", "cls", "max"),
        help="pooling of the token embeddings; default the folder's sentence-transformers configuration",
    )


def embedding_setup(args: argparse.Namespace):
    """The ``EmbeddingSetup`` the flags ask for; None without ``--embedding``."""
    from ..steps.workload import EmbeddingSetup

    if not args.embedding:
        if args.text_file is not None:
            raise BertpressError("--text-file is unlabeled text for a sentence embedder: add --embedding")
        return None
    if args.text_file is None and args.task is None:
        raise BertpressError("--embedding needs text: --text-file FILE, or --task T for its training sentences")
    return EmbeddingSetup(args.text_file, args.text_column, args.pooling, args.embedding_loss)


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
