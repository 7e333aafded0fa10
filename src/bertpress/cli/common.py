"""Options shared by the subcommands, and printing a report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..data.tasks import DEFAULT_LENGTH, DOC_STRIDE, GLUE_DIR_ENV, TASKS
from ..errors import BertpressError
from ..outputs import check_writable, write_json
from ..reports import Report

if TYPE_CHECKING:  # what the options become is imported when a command runs: --help must not load torch
    from ..data.calibration import Calibration
    from ..data.sources import DataSource
    from ..measure.latency import LatencySetting

# How --help says the task's own lengths: "squad 384, else 128".
TASK_LENGTHS = ", ".join(
    [*(f"{name} {task.max_length}" for name, task in TASKS.items() if task.max_length != DEFAULT_LENGTH), f"else {DEFAULT_LENGTH}"]
)

# The options that name something a command reads: its --json FILE may be neither one nor inside one.
INPUT_OPTIONS = (
    "model", "teacher", "data_dir", "train_file", "dev_file", "text_file", "unlabeled_file", "data_file", "recipe",
    "resume", "dense",
)


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
    group.add_argument(
        "--train-file", metavar="FILE",
        help="custom training examples (.csv, .tsv or .jsonl; squad: SQuAD JSON or JSONL; conll2003: CoNLL columns)",
    )
    group.add_argument("--dev-file", metavar="FILE", help="custom dev (or test) examples, as --train-file")
    group.add_argument(
        "--text-columns",
        metavar="A[,B]",
        type=column_names,
        help="the custom files' text column(s); default the task's (e.g. sentence1,sentence2)",
    )
    group.add_argument(
        "--label-column", metavar="NAME",
        help="the custom files' label column; default 'label' (CoNLL files: the tag column's number, default -1, the last)",
    )
    group.add_argument(
        "--max-length", type=positive_int, metavar="N",
        help=f"tokens per example, a QA window (default the task's: {TASK_LENGTHS})",
    )
    group.add_argument(
        "--doc-stride", type=positive_int, default=DOC_STRIDE, metavar="N",
        help="question answering: tokens shared by consecutive windows of a long context (default %(default)s)",
    )


def data_source(args: argparse.Namespace) -> DataSource:
    from ..data.sources import DataSource

    return DataSource(
        data_dir=args.data_dir,
        train_file=args.train_file,
        dev_file=args.dev_file,
        text_columns=args.text_columns,
        label_column=args.label_column,
        doc_stride=args.doc_stride,
    )


def fill_task_lengths(args: argparse.Namespace) -> None:
    """Give --max-length left out the task's own length (384 for a SQuAD window), and --seq-length
    left out the --max-length: inputs are timed and priced at the length they are cut to."""
    task = TASKS.get(str(getattr(args, "task", None) or "").lower())
    if getattr(args, "max_length", 0) is None:
        args.max_length = task.max_length if task else DEFAULT_LENGTH
        if getattr(args, "embedding", False) and getattr(args, "text_file", None):
            from ..data.texts import text_length  # reads datasets: only when a command runs

            args.max_length = text_length(args.text_file)  # passages (a SQuAD file): 256
    if getattr(args, "seq_length", 0) is None:
        args.seq_length = getattr(args, "max_length", None) or (task.max_length if task else DEFAULT_LENGTH)


def add_embedding_options(parser: argparse.ArgumentParser):
    """Compressing a sentence-embedding model from unlabeled text (see ``steps.workload.EmbeddingSetup``)."""
    group = add_embedding_text_options(
        parser,
        "the model is a sentence embedder (a sentence-transformers folder): keep its embeddings, "
        "scored by agreement with the original (and STS-B cosine Spearman when GLUE data is at hand)",
    )
    group.add_argument(
        "--embedding-loss",
        choices=("mse", "cosine", "similarity"),
        default="mse",
        help="how embeddings are compared in pruning statistics and distillation (default mse; similarity: "
        "cosine plus each text's cosine similarities to the rest of its batch, the structure retrieval ranks by)",
    )
    group.add_argument(
        "--query-passage-pairs",
        action="store_true",
        help="with --embedding-loss similarity and a SQuAD --text-file: calibration and distillation batches hold each "
        "question with its paragraph, so the in-batch term keeps query-passage similarities (otherwise questions batch "
        "with questions)",
    )
    return group


def add_embedding_text_options(parser: argparse.ArgumentParser, embedding_help: str):
    """--embedding (what it does: ``embedding_help``), the embedder's text and its pooling; the group."""
    group = parser.add_argument_group("sentence embeddings (no labels)")
    group.add_argument("--embedding", action="store_true", help=embedding_help)
    group.add_argument(
        "--text-file", metavar="FILE", action="append",
        help="unlabeled text: one per line, a .csv/.tsv/.jsonl column (--text-column), or a SQuAD JSON file "
        "(its paragraphs and questions, cut at 256 tokens unless --max-length says otherwise); repeat it to pool "
        "several files (e.g. passages and sentences)",
    )
    group.add_argument(
        "--text-column", metavar="NAME", help="the column of the text files that are tables (default 'text')"
    )
    add_pooling_option(group)
    return group


def add_pooling_option(parser) -> None:
    parser.add_argument(
        "--pooling",
        choices=("mean", "cls", "max"),
        help="pooling of the token embeddings; default the folder's sentence-transformers configuration",
    )


def embedding_setup(args: argparse.Namespace, calibrates: bool = True):
    """The ``EmbeddingSetup`` the flags ask for; None without ``--embedding``. Without a text file
    or a task, the shipped text sample is the text (a first run needs no data), and a line says so
    where the command ``calibrates`` on it."""
    from ..data.text_sample import SAMPLE_NAME
    from ..steps.workload import EmbeddingSetup

    if not args.embedding:
        if args.text_file is not None:
            raise BertpressError("--text-file is unlabeled text for a sentence embedder: add --embedding")
        if getattr(args, "data_file", None) is not None:
            raise BertpressError("--data-file is the retrieval file a sentence embedder is scored on: add --embedding")
        return None
    task = getattr(args, "task", None)  # export and bench take no task
    if args.text_file is None and task is None and calibrates:
        print(f"bertpress {args.command}: no --text-file or --task: calibrating on {SAMPLE_NAME}", file=sys.stderr)
    retrieval = {"retrieval_file": args.data_file} if getattr(args, "data_file", None) else {}
    if getattr(args, "max_questions", None):
        retrieval["max_questions"] = args.max_questions
    return EmbeddingSetup(
        args.text_file, args.text_column, args.pooling, getattr(args, "embedding_loss", "mse"), **retrieval,
        query_passage_pairs=getattr(args, "query_passage_pairs", False),
    )


def emit(args: argparse.Namespace, report: Report) -> None:
    """Print the report's table; write its JSON when ``--json`` was given."""
    print(report.render())
    if getattr(args, "json", None):
        write_json(args.json, report.to_dict())


def check_json_target(args: argparse.Namespace) -> None:
    """Refuse a --json FILE that cannot be written, or that is or lies inside an input, before the
    command runs: afterwards its output would already be written, and the run reported failed."""
    if getattr(args, "json", None) is None:
        return
    target = Path(args.json)
    output = getattr(args, "output", None)
    if target.is_dir() or (output is not None and target.absolute() == Path(output).absolute()):
        raise BertpressError(f"--json {args.json} is a folder (or the --output folder); give a file name")
    check_writable(target, f"--json {args.json} cannot be written")
    for option in INPUT_OPTIONS:
        value = getattr(args, option, None)
        sources = value if isinstance(value, list) else [] if value is None else [value]  # --text-file repeats
        for source in sources:
            if Path(source).exists() and _is_within(target, Path(source)):
                raise BertpressError(f"--json {args.json} would write into the input --{option.replace('_', '-')} {source}")


def _is_within(path: Path, place: Path) -> bool:
    """Whether ``path`` is ``place`` or lies inside it (links resolved)."""
    path, place = path.resolve(), place.resolve()
    return path == place or place in path.parents


def add_output_options(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--output", required=True, metavar="DIR", help=f"folder to write {what} to")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace --output if it exists and is not empty (never an input's folder, one that holds an "
        "input, or an existing one inside an input)",
    )


def add_calibration_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("calibration")
    group.add_argument(
        "--num-samples", type=positive_int, default=2048, help="training examples to calibrate on (default 2048)"
    )
    group.add_argument("--seed", type=int, default=0, help="seed for the calibration sample (default 0)")


def calibration(args: argparse.Namespace) -> Calibration:
    from ..data.calibration import Calibration

    return Calibration(num_samples=args.num_samples, seed=args.seed, max_length=args.max_length)


def add_latency_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("latency measurement (the speedup, and latency budgets)")
    group.add_argument("--batch-size", type=positive_int, default=32, help="batch size (default 32)")
    group.add_argument("--seq-length", type=positive_int, help="sequence length (default --max-length)")
    group.add_argument("--device", default="cpu", help="device, e.g. cpu or cuda (default cpu)")
    group.add_argument(
        "--min-time", type=number, default=1.0, metavar="SECONDS", help="timing per measurement (default 1)"
    )


def latency_setting(args: argparse.Namespace) -> LatencySetting:
    from ..measure.latency import LatencySetting

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
