"""``bertpress export``: an ONNX folder (fp32 or int8) that computes what the PyTorch model computes."""

from __future__ import annotations

import argparse

from .common import add_json_option, add_output_options, add_pooling_option, emit


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a dense or pruned model to ONNX (optionally int8)",
        description="Export to ONNX with dynamic batch and sequence axes, apply ONNX Runtime's "
        "transformer fusions where they fit, and check the logits against PyTorch (the tolerance is in "
        "the report's JSON).",
    )
    parser.add_argument("--model", required=True, help="PyTorch model folder (dense or pruned) or hub id")
    add_output_options(parser, "the ONNX model")
    # One format so far; the option keeps command lines stable when another comes.
    parser.add_argument("--format", choices=("onnx",), default="onnx", help="default onnx")
    parser.add_argument("--int8", action="store_true", help="write model.int8.onnx (ONNX Runtime dynamic quantization)")
    parser.add_argument(
        "--embedding",
        action="store_true",
        help="the model is a sentence embedder: the graph outputs sentence_embedding (pooled, normalised "
        "as the folder says) and last_hidden_state",
    )
    add_pooling_option(parser)
    add_json_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from .. import api

    report = api.export(
        args.model, args.output, int8=args.int8, overwrite=args.overwrite, embedding=args.embedding, pooling=args.pooling
    )
    emit(args, report)
