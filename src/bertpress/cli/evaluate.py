"""`bertpress evaluate`: score a model folder on a task's dev split."""

from __future__ import annotations

import argparse

from ..data.sources import load_split
from ..data.tasks import get_task
from ..measure.evaluate import check_config_fits_task, evaluate
from ..models.loading import load_config, load_model, load_tokenizer
from .common import (
    add_data_options,
    add_json_option,
    data_source,
    emit,
    format_table,
    positive_int,
)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="score a model on a task's dev split",
        description="Score a fine-tuned model on a task's split with the task's official metrics.",
    )
    parser.add_argument("--model", required=True, help="model folder (or hub id)")
    add_data_options(parser)
    parser.add_argument(
        "--split", default="dev", help="dev (MNLI: dev_matched), dev_matched, dev_mismatched or train (default dev)"
    )
    parser.add_argument("--batch-size", type=positive_int, default=64, help="examples per batch (default 64)")
    add_json_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    task = get_task(args.task)
    split = task.resolve_split(args.split)
    # Every check that can fail comes before the weights load: a bad input costs nothing.
    check_config_fits_task(load_config(args.model), task)
    dataset = load_split(task, split, data_source(args))
    tokenizer = load_tokenizer(args.model)
    model = load_model(args.model)
    result = evaluate(
        model, tokenizer, task, dataset, split=split, batch_size=args.batch_size, max_length=args.max_length
    )
    table = format_table(
        ["task", "split", "examples", *result.metrics],
        [[result.task, result.split, result.num_examples, *result.metrics.values()]],
    )
    emit(args, result.to_dict(), table)
