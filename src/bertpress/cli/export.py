"""``bertpress export``: a folder with one backend's file (ONNX or OpenVINO, fp32 or int8) that
computes what the PyTorch model computes."""

from __future__ import annotations

import argparse

from ..runtime.backends import BACKENDS, backend_of
from .common import add_embedding_text_options, add_json_option, add_output_options, embedding_setup, emit

# The backends an export writes (those with a file), the calibrated ones, and the one --int8 stands for.
EXPORTED = tuple(name for name, backend in BACKENDS.items() if backend.file is not None)
CALIBRATED = tuple(name for name, backend in BACKENDS.items() if backend.int8 == "static")
DEFAULT, INT8 = (backend_of("onnx", mode).name for mode in (None, "dynamic"))


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a dense or pruned model to ONNX or OpenVINO (optionally int8)",
        description="Export with dynamic batch and sequence axes, apply ONNX Runtime's transformer fusions "
        "where they fit, and check the outputs against PyTorch (the tolerance is in the report's JSON). "
        "A sentence embedder (--embedding) is written as a sentence-transformers folder with the graph in "
        "onnx/ or openvino/, where SentenceTransformer(folder, backend=...) looks for it.",
    )
    parser.add_argument("--model", required=True, help="PyTorch model folder (dense or pruned) or hub id")
    add_output_options(parser, "the exported model")
    # The ONNX shorthands that came before --backend; command lines keep working.
    parser.add_argument("--format", choices=("onnx",), default="onnx", help="default onnx (see --backend for OpenVINO)")
    parser.add_argument("--int8", action="store_true", help=f"ONNX Runtime dynamic int8: --backend {INT8}")
    parser.add_argument(
        "--backend", choices=EXPORTED,
        help=f"the backend to write (default {DEFAULT}); the static int8 ones ({', '.join(CALIBRATED)}) of a "
        "sentence embedder are calibrated on its text (--text-file)",
    )
    add_embedding_text_options(
        parser,
        "the model is a sentence embedder: the graph outputs sentence_embedding (pooled, normalised as the "
        "folder says) and last_hidden_state",
    )
    add_json_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from .. import api

    calibrated = args.backend is not None and BACKENDS[args.backend].int8 == "static"
    report = api.export(
        args.model, args.output, int8=args.int8, overwrite=args.overwrite, embedding=args.embedding,
        pooling=args.pooling, backend=args.backend, text=embedding_setup(args, calibrates=calibrated),
    )
    emit(args, report)
