"""`bertpress bench`: latency, throughput, parameters, MACs and size; backends side by side."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from ..runtime.backends import BACKEND_NAMES, BACKENDS
from .common import add_embedding_text_options, add_json_option, embedding_setup, emit, positive_int


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="measure latency, throughput, parameters, MACs and size",
        description="Time forward passes on random tokens (median and range of rounds); with --backends, "
        "compare PyTorch, ONNX Runtime and OpenVINO, fp32 and int8, timed in turn, and the dense model the "
        "folder's report.json names beside them. Prints the CPU's features and each runtime's threads.",
    )
    parser.add_argument("--model", required=True, help="model folder: PyTorch, or written by `bertpress export`")
    parser.add_argument(
        "--batch-sizes", "--batch-size", type=comma_list(positive_int), default=(1, 32), metavar="N[,N...]",
        help="default 1,32",
    )
    parser.add_argument(
        "--seq-length", type=positive_int,
        help="tokens per sequence (default the length of the task the model was fine-tuned for: 384 for squad, else 128)",
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="default cpu")
    parser.add_argument("--threads", type=positive_int, help="intra-op threads (default: torch's current count)")
    parser.add_argument(
        "--backends",
        type=comma_list(_backend),
        metavar="B[,B...]",
        help=f"backends to compare, from {','.join(BACKEND_NAMES)}; ONNX files are made on the fly",
    )
    parser.add_argument(
        "--dense", metavar="MODEL",
        help="the dense model to time beside it, with --backends (default the one the folder's report.json names: "
        "for a model made in several commands, the last command's input)",
    )
    parser.add_argument(
        "--min-time", type=float, default=1.0, metavar="SECONDS", help="timing per measurement (default 1)"
    )
    add_embedding_text_options(
        parser,
        "the model is a sentence embedder: time it with its pooling; its static int8 backends are calibrated "
        "on its text (--text-file)",
    )
    add_json_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from .. import api

    calibrated = any(BACKENDS[name].int8 == "static" for name in args.backends or ())
    report = api.bench(
        args.model,
        args.batch_sizes,
        args.seq_length or api.task_length(args.model),
        device=args.device,
        threads=args.threads,
        backends=args.backends,
        min_run_time=args.min_time,
        embedding=embedding_setup(args, calibrates=calibrated),
        dense=args.dense,
    )
    emit(args, report)


def comma_list(item: Callable[[str], object]) -> Callable[[str], tuple]:
    """An argparse type: comma-separated values, each parsed by ``item``."""

    def parse(text: str) -> tuple:
        return tuple(item(part.strip()) for part in text.split(","))

    return parse


def _backend(name: str) -> str:
    if name not in BACKEND_NAMES:
        raise argparse.ArgumentTypeError(f"unknown backend '{name}' (choose from {', '.join(BACKEND_NAMES)})")
    return name
