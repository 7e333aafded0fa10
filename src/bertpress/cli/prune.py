"""``bertpress prune``: retraining-free structured pruning under a MACs budget."""

from __future__ import annotations

import argparse

from .common import add_data_options, add_json_option, data_source, emit, positive_int


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "prune",
        help="remove attention heads and FFN neurons under a MACs or latency budget, without retraining",
        description="Prune a fine-tuned model (Fisher importance, mask search, rearrangement, "
        "layer-wise reconstruction) and save a physically smaller model with report.json.",
    )
    budget = parser.add_mutually_exclusive_group(required=True)
    budget.add_argument("--flops", type=float, metavar="RATIO", help="fraction of the MACs to keep, in (0, 1]")
    budget.add_argument(
        "--latency",
        type=float,
        metavar="RATIO",
        help="fraction of the dense model's latency to keep, measured here at --batch-size and --seq-length",
    )
    parser.add_argument("--model", required=True, help="fine-tuned model folder or hub id")
    parser.add_argument("--output", required=True, metavar="DIR", help="where to write the pruned model")
    add_data_options(parser)
    parser.add_argument("--num-samples", type=positive_int, default=2048, help="training examples to calibrate on (default 2048)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the calibration sample (default 0)")
    parser.add_argument("--no-rearrange", action="store_true", help="skip mask rearrangement")
    parser.add_argument("--no-tune", action="store_true", help="skip layer-wise reconstruction")
    parser.add_argument(
        "--reconstruct",
        choices=("scales", "weights"),
        default="weights",
        help="refit output-projection weights (default) or one scale per unit (the paper's mask tuning)",
    )
    latency = parser.add_argument_group("latency measurement (the speedup, and a --latency budget)")
    latency.add_argument("--batch-size", type=positive_int, default=32, help="batch size (default 32)")
    latency.add_argument("--seq-length", type=positive_int, default=128, help="sequence length (default 128)")
    latency.add_argument("--device", default="cpu", help="device, e.g. cpu or cuda (default cpu)")
    add_json_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from .. import api

    config = api.PruneConfig(
        macs=args.flops,
        latency=args.latency,
        num_samples=args.num_samples,
        seed=args.seed,
        rearrange=not args.no_rearrange,
        tune=not args.no_tune,
        reconstruct=args.reconstruct,
    )
    report = api.prune(
        args.model,
        args.task,
        args.output,
        config=config,
        data=data_source(args),
        max_length=args.max_length,
        latency=api.LatencySetting(batch_size=args.batch_size, seq_length=args.seq_length, device=args.device),
    )
    emit(args, report.to_dict(), report.render())
