"""``bertpress evaluate``: score a model folder on a task's dev split."""

from __future__ import annotations

import argparse

from .common import add_data_options, add_json_option, data_source, emit, positive_int


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
    from .. import api

    report = api.evaluate(
        args.model,
        args.task,
        data=data_source(args),
        split=args.split,
        batch_size=args.batch_size,
        max_length=args.max_length,
    )
    emit(args, report)
