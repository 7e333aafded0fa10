"""``bertpress evaluate``: score a model folder on a task's dev split."""

from __future__ import annotations

import argparse

from ..data.tasks import RETRIEVAL_TASK
from .common import add_data_options, add_json_option, add_pooling_option, data_source, emit, positive_int


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="score a model on a task's dev split",
        description="Score a fine-tuned model on a task's split with the task's official metrics.",
    )
    parser.add_argument("--model", required=True, help="model folder (or hub id)")
    add_data_options(parser)  # --task also takes squad-retrieval (a sentence embedder, with --data-file)
    parser.add_argument(
        "--split", default="dev", help="dev (MNLI: dev_matched), dev_matched, dev_mismatched or train (default dev)"
    )
    parser.add_argument("--batch-size", type=positive_int, default=64, help="examples per batch (default 64)")
    group = parser.add_argument_group("sentence embeddings")
    group.add_argument(
        "--embedding",
        action="store_true",
        help="the model is a sentence embedder: --task stsb scores the cosine similarity of each pair (no training)",
    )
    add_pooling_option(group)
    group.add_argument(
        "--data-file", metavar="FILE", help=f"the SQuAD v1.1 JSON file of --task {RETRIEVAL_TASK} (e.g. dev-v1.1.json)"
    )
    group.add_argument(
        "--max-questions", type=positive_int, metavar="N", help=f"{RETRIEVAL_TASK}: a seeded subset of the questions"
    )
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
        embedding=args.embedding,
        pooling=args.pooling,
        data_file=args.data_file,
        max_questions=args.max_questions,
    )
    emit(args, report)
