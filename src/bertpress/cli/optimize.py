"""``bertpress optimize``: find the most accurate model that meets a latency target, trying pruning
ratios, distillation, layer-drop students, int8 routes and backends within a time budget."""

from __future__ import annotations

import argparse

from ..data.tasks import EMBEDDING_METRICS
from ..runtime.backends import BACKEND_NAMES
from .bench import _backend, comma_list
from .common import (
    add_calibration_options,
    add_data_options,
    add_embedding_options,
    add_json_option,
    add_output_options,
    calibration,
    data_source,
    embedding_setup,
    emit,
    number,
    positive_int,
)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "optimize",
        help="search methods and backends for the best model under a latency target and an accuracy floor",
        description="Prune (one shared Fisher pass), distil and quantize --model in the ways a time budget "
        "allows, judge every candidate on each backend (a proxy first, then the dev set and measured "
        "latency), and save the most accurate one that meets the target and the floor to OUTPUT/model/, "
        "with the Pareto front in OUTPUT/pareto.json, pareto.md and pareto.png.",
    )
    parser.add_argument("--model", required=True, help="the fine-tuned model folder (or hub id)")
    add_output_options(parser, "the front and the chosen model (model/)")
    target = parser.add_argument_group("target (one of)")
    goal = target.add_mutually_exclusive_group(required=True)
    goal.add_argument("--latency-ms", type=number, metavar="X", help="latency at --batch-size x --seq-length, in ms")
    goal.add_argument("--speedup", type=number, metavar="S", help="times faster than the dense fp32 PyTorch model")
    target.add_argument("--batch-size", type=positive_int, default=32, help="batch size of the target (default 32)")
    target.add_argument("--seq-length", type=positive_int, help="sequence length of the target (default --max-length)")
    target.add_argument(
        "--backend",
        type=comma_list(_backend),
        metavar="B[,B...]",
        help=f"backends to try (default all: {','.join(BACKEND_NAMES)})",
    )
    floor = parser.add_argument_group("floor (one of)")
    least = floor.add_mutually_exclusive_group(required=True)
    least.add_argument("--max-drop", type=number, metavar="POINTS", help="dev metric at most this far below dense")
    least.add_argument("--min-metric", type=number, metavar="M", help="dev metric at least M (points, e.g. 85.0)")
    search = parser.add_argument_group("search")
    search.add_argument("--time-budget", default="30m", metavar="T", help="wall time allowed: 30m, 90s, 1.5h (default 30m)")
    search.add_argument("--no-distill", action="store_true", help="retraining-free candidates only")
    search.add_argument("--no-layer-drop", action="store_true", help="no layer-drop students")
    search.add_argument(
        "--min-time", type=number, default=1.0, metavar="SECONDS", help="timing per latency measurement (default 1)"
    )
    add_data_options(parser, task_required=False)
    group = add_embedding_options(parser)
    group.add_argument(
        "--metric", choices=EMBEDDING_METRICS, metavar="M",
        help=f"the score a sentence embedder is ranked and floored by: {', '.join(EMBEDDING_METRICS)} (default "
        "ndcg@10 with --data-file, else stsb with --data-dir, else agreement with the original)",
    )
    group.add_argument("--data-file", metavar="FILE", help="the SQuAD v1.1 JSON file retrieval is scored on (e.g. dev-v1.1.json)")
    group.add_argument("--max-questions", type=positive_int, metavar="N",
                       help="retrieval: a seeded subset of the questions, against all paragraphs (default 1000)")
    add_calibration_options(parser)
    add_json_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from .. import api
    from ..optimize import parse_duration

    target = api.Target(args.latency_ms, args.speedup, args.batch_size, args.seq_length)
    floor = api.Floor(args.max_drop, args.min_metric)
    api.optimize(
        args.model,
        args.task,
        args.output,
        target=target,
        floor=floor,
        time_budget_s=parse_duration(args.time_budget),
        backends=list(args.backend) if args.backend else None,
        data=data_source(args),
        calibration=calibration(args),
        distill=not args.no_distill,
        layer_drop=not args.no_layer_drop,
        min_run_time=args.min_time,
        overwrite=args.overwrite,
        on_report=lambda report: emit(args, report),  # printed even when no model meets the target
        embedding=embedding_setup(args),
        metric=args.metric,
    )
