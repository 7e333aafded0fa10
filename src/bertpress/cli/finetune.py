"""``bertpress finetune``: train a task model from a base encoder."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..train.config import TrainConfig
from .common import add_data_options, add_json_option, add_output_options, data_source, emit, number, positive_int

if TYPE_CHECKING:
    from ..train.finetune import EpochResult

_DEFAULTS = TrainConfig()


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "finetune",
        help="train a task model from a base encoder",
        description="Fine-tune a base encoder on a task (AdamW, linear warm-up 6% then decay) and save "
        "a folder that transformers loads; the dev split is scored after every epoch.",
    )
    parser.add_argument("--model", default="minilm", help="base model: folder, hub id or 'minilm' (default)")
    add_output_options(parser, "the trained model")
    add_data_options(parser)
    parser.add_argument("--epochs", type=positive_int, default=_DEFAULTS.epochs, help="default %(default)s")
    parser.add_argument("--lr", type=number, default=_DEFAULTS.lr, help="peak learning rate (default %(default)s)")
    parser.add_argument("--batch-size", type=positive_int, default=_DEFAULTS.batch_size, help="default %(default)s")
    parser.add_argument("--seed", type=int, default=_DEFAULTS.seed, help="default %(default)s")
    parser.add_argument(
        "--max-train-samples", type=positive_int, metavar="N", help="train on a seeded sample of N examples"
    )
    add_json_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from .. import api

    config = TrainConfig(
        epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, max_length=args.max_length, seed=args.seed
    )
    report = api.finetune(
        args.model,
        args.task,
        args.output,
        config=config,
        data=data_source(args),
        max_train_samples=args.max_train_samples,
        overwrite=args.overwrite,
        on_epoch=_print_epoch,
    )
    emit(args, report)


def _print_epoch(result: EpochResult) -> None:
    scores = ", ".join(f"{name} {value:.4f}" for name, value in result.metrics.items())
    print(f"epoch {result.epoch}: train loss {result.train_loss:.4f}; {result.split} {scores}", flush=True)
