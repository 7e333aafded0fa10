"""``bertpress info``: family, per-layer head counts and FFN sizes, parameters and MACs of a model."""

from __future__ import annotations

import argparse

from .common import add_json_option, emit, positive_int


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "info",
        help="show a model's architecture, per-layer sizes, parameters and MACs",
        description="Describe a model folder (PyTorch or ONNX export): family, layers, heads and FFN "
        "neurons per layer, parameters, MACs per sequence, and whether bertpress compressed it.",
    )
    parser.add_argument("--model", required=True, help="model folder (or hub id)")
    parser.add_argument(
        "--seq-length", type=positive_int,
        help="tokens per sequence for MACs (default the length of the model's task: 384 for squad, else 128)",
    )
    add_json_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from .. import api

    emit(args, api.info(args.model, args.seq_length or api.task_length(args.model)))
