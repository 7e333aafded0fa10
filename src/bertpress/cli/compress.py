"""``bertpress compress``: run a recipe (a list of steps) on a fine-tuned model."""

from __future__ import annotations

import argparse

from .common import (
    add_calibration_options,
    add_checkpoint_options,
    add_data_options,
    add_embedding_options,
    add_json_option,
    add_latency_options,
    add_output_options,
    calibration,
    checkpoint_folder,
    data_source,
    embedding_setup,
    emit,
    latency_setting,
)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "compress",
        help="run a compression recipe: prune, drop_layers, distill, export and quantize steps in order",
        description="Apply a recipe's steps in order (YAML or JSON, a top-level 'steps' list, each item "
        "one step name mapped to its fields) and save the result with report.json and the recipe.",
    )
    parser.add_argument("--model", required=True, help="fine-tuned model folder or hub id")
    parser.add_argument("--recipe", required=True, metavar="FILE", help="recipe file (.yaml or .json)")
    add_output_options(parser, "the compressed model")
    add_data_options(parser, task_required=False)
    add_embedding_options(parser)
    add_calibration_options(parser)
    add_latency_options(parser)
    add_checkpoint_options(parser)
    add_json_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from .. import api

    report = api.compress(
        args.model,
        args.task,
        args.output,
        recipe=api.Recipe.load(args.recipe),
        calibration=calibration(args),
        data=data_source(args),
        embedding=embedding_setup(args),
        latency=latency_setting(args),
        overwrite=args.overwrite,
        checkpoints=checkpoint_folder(args),
        resume=args.resume,
        inputs=[args.recipe],
    )
    emit(args, report)
