"""``bertpress prune``: retraining-free structured pruning under one budget (a one-step recipe)."""

from __future__ import annotations

import argparse

from .common import (
    add_calibration_options,
    add_data_options,
    add_embedding_options,
    add_json_option,
    add_latency_options,
    add_output_options,
    calibration,
    data_source,
    embedding_setup,
    emit,
    latency_setting,
    number,
    positive_int,
)
from ..prune import DEFAULT_LAYER_FLOOR


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "prune",
        help="remove attention heads and FFN neurons under a MACs, latency or parameters budget, without retraining",
        description="Prune a fine-tuned model (Fisher importance, mask search, rearrangement, "
        "layer-wise reconstruction) and save a physically smaller model with report.json and recipe.yaml.",
    )
    parser.add_argument("--model", required=True, help="fine-tuned model folder or hub id")
    add_output_options(parser, "the pruned model")
    add_budget_options(parser)
    add_data_options(parser, task_required=False)
    add_embedding_options(parser)
    add_calibration_options(parser)
    parser.add_argument("--no-rearrange", action="store_true", help="skip mask rearrangement")
    parser.add_argument("--no-tune", action="store_true", help="skip layer-wise reconstruction")
    parser.add_argument(
        "--reconstruct",
        choices=("scales", "weights"),
        default="weights",
        help="refit output-projection weights (default) or one scale per unit (the paper's mask tuning)",
    )
    parser.add_argument(
        "--allow-layer-drop", action="store_true", help="let the search drop whole layers beside heads and neurons"
    )
    parser.add_argument(
        "--layer-floor",
        type=number,
        default=DEFAULT_LAYER_FLOOR,
        metavar="SHARE",
        help="every kept layer keeps at least SHARE x the budget's share of its heads and of its neurons, and at least one of each "
        f"(default {DEFAULT_LAYER_FLOOR}; 0: the paper's unconstrained search, which can empty the top layers)",
    )
    parser.add_argument(
        "--neuron-multiple",
        type=positive_int,
        default=1,
        metavar="N",
        help="every kept FFN's width a multiple of N neurons (default 1: any width); 8 for fp16 on a GPU, whose "
        "tensor cores leave odd widths slower than the dense model's",
    )
    parser.add_argument(
        "--gradual",
        action="store_true",
        help="prune in stages (0.7, 0.5, 0.35, ... of the budget's kind), redoing statistics and "
        "reconstruction on the already pruned model each time",
    )
    add_latency_options(parser)
    add_json_option(parser)
    parser.set_defaults(run=run)


def add_budget_options(parser: argparse.ArgumentParser, required: bool = True) -> None:
    title = "budget (exactly one)" if required else "budget (at most one)"
    group = parser.add_argument_group(title).add_mutually_exclusive_group(required=required)
    group.add_argument("--macs", "--flops", type=number, metavar="RATIO", help="fraction of the encoder's MACs to keep")
    group.add_argument(
        "--latency", type=number, metavar="RATIO", help="fraction of the dense model's latency, measured here"
    )
    group.add_argument(
        "--latency-ms", type=number, metavar="MS", help="latency target in milliseconds at --batch-size/--seq-length"
    )
    group.add_argument("--params", type=number, metavar="RATIO", help="fraction of the model's parameters to keep")


def budget_given(args: argparse.Namespace) -> bool:
    return any(getattr(args, name) is not None for name in ("macs", "latency", "latency_ms", "params"))


def prune_step(args: argparse.Namespace, **settings):
    from .. import api

    return api.PruneStep(
        macs=args.macs, latency=args.latency, latency_ms=args.latency_ms, params=args.params, **settings
    )


def run(args: argparse.Namespace) -> None:
    from .. import api

    config = prune_step(
        args,
        rearrange=not args.no_rearrange,
        tune=not args.no_tune,
        reconstruct=args.reconstruct,
        allow_layer_drop=args.allow_layer_drop,
        layer_floor=args.layer_floor,
        neuron_multiple=args.neuron_multiple,
    )
    recipe = api.gradual_recipe(config) if args.gradual else api.Recipe.of(config)
    report = api.compress(
        args.model,
        args.task,
        args.output,
        recipe=recipe,
        calibration=calibration(args),
        data=data_source(args),
        embedding=embedding_setup(args),
        latency=latency_setting(args),
        overwrite=args.overwrite,
    )
    emit(args, report)
