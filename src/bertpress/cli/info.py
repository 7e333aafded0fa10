"""`bertpress info`: family, per-layer head counts and FFN sizes, parameters and MACs of a model."""

from __future__ import annotations

import argparse

from ..measure.info import describe
from ..models.loading import load_model
from .common import add_json_option, emit, format_table, positive_int


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "info",
        help="show a model's architecture, per-layer sizes, parameters and MACs",
        description="Describe a model folder (PyTorch or ONNX export): family, heads and FFN neurons "
        "per layer, parameters, MACs per sequence, and whether bertpress pruned it.",
    )
    parser.add_argument("--model", required=True, help="model folder (or hub id)")
    parser.add_argument(
        "--seq-length", type=positive_int, default=128, help="tokens per sequence for MACs (default 128)"
    )
    add_json_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    info = describe(load_model(args.model), args.seq_length)
    emit(args, info, render(info))


def render(info: dict) -> str:
    summary = (
        f"{info['architecture']} ({info['family']}, {info['format']}{', pruned' if info['pruned'] else ''}): "
        f"{info['layers']} layers, hidden size {info['hidden_size']}, head size {info['head_size']}, "
        f"{info['num_labels']} labels\n"
        f"{info['params']:,} parameters, {info['macs']:,} MACs per sequence of {info['seq_length']} tokens"
    )
    sizes = zip(info["heads_per_layer"], info["neurons_per_layer"])
    rows = [[index, heads, neurons] for index, (heads, neurons) in enumerate(sizes)]
    return f"{summary}\n\n{format_table(['layer', 'heads', 'FFN neurons'], rows)}"
