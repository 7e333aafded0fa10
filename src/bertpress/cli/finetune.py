"""`bertpress finetune`: train a task model from a base encoder."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from ..data.tasks import get_task
from ..train.finetune import EpochResult, TrainConfig, finetune
from .common import (
    add_data_options,
    add_json_option,
    data_source,
    emit,
    format_table,
    positive_int,
)

_DEFAULTS = TrainConfig()


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "finetune",
        help="train a task model from a base encoder",
        description="Fine-tune a base encoder on a task (AdamW, linear warm-up 6% then decay) and save "
        "a folder that transformers loads; the dev split is scored after every epoch.",
    )
    parser.add_argument("--model", default="minilm", help="base model: folder, hub id or 'minilm' (default)")
    parser.add_argument("--output", required=True, metavar="DIR", help="folder to write the trained model to")
    add_data_options(parser)
    parser.add_argument("--epochs", type=positive_int, default=_DEFAULTS.epochs, help="default %(default)s")
    parser.add_argument("--lr", type=float, default=_DEFAULTS.lr, help="peak learning rate (default %(default)s)")
    parser.add_argument("--batch-size", type=positive_int, default=_DEFAULTS.batch_size, help="default %(default)s")
    parser.add_argument("--seed", type=int, default=_DEFAULTS.seed, help="default %(default)s")
    parser.add_argument(
        "--max-train-samples", type=positive_int, metavar="N", help="train on a seeded sample of N examples"
    )
    add_json_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    task = get_task(args.task)
    config = TrainConfig(
        epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, max_length=args.max_length, seed=args.seed
    )
    history = finetune(
        args.model,
        task,
        data_source(args),
        args.output,
        config,
        max_train_samples=args.max_train_samples,
        on_epoch=_print_epoch,
    )
    metrics = list(history[-1].dev.metrics)
    table = format_table(
        ["epoch", "train_loss", *metrics],
        [[result.epoch, result.train_loss, *result.dev.metrics.values()] for result in history],
    )
    result = {
        "task": task.name,
        "model": args.model,
        "output": args.output,
        "config": asdict(config),
        "max_train_samples": args.max_train_samples,
        "epochs": [epoch.to_dict() for epoch in history],
    }
    emit(args, result, table)
    print(f"saved to {args.output}")


def _print_epoch(result: EpochResult) -> None:
    scores = ", ".join(f"{name} {value:.4f}" for name, value in result.dev.metrics.items())
    print(f"epoch {result.epoch}: train loss {result.train_loss:.4f}; {result.dev.split} {scores}", flush=True)
