"""`bertpress export`: an ONNX folder (fp32 or int8) that computes what the PyTorch model computes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import BertpressError
from ..export.onnx import TOLERANCE, ExportReport, export_onnx
from ..export.onnx_model import OnnxClassifier
from ..models.loading import load_model, load_tokenizer
from .common import add_json_option, emit, format_table


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a dense or pruned model to ONNX (optionally int8)",
        description="Export to ONNX with dynamic batch and sequence axes, apply ONNX Runtime's "
        f"transformer fusions where they fit, and check the logits against PyTorch (within {TOLERANCE:g}).",
    )
    parser.add_argument("--model", required=True, help="PyTorch model folder (dense or pruned) or hub id")
    parser.add_argument("--output", required=True, metavar="DIR", help="folder to write (replaced if it exists)")
    # One format so far; the option keeps command lines stable when another comes.
    parser.add_argument("--format", choices=("onnx",), default="onnx", help="default onnx")
    parser.add_argument("--int8", action="store_true", help="write model.int8.onnx (ONNX Runtime dynamic quantization)")
    add_json_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    if Path(args.output).resolve() == Path(args.model).resolve():
        raise BertpressError("--output must differ from --model: the output folder is replaced")
    model = load_model(args.model)
    if isinstance(model, OnnxClassifier):
        raise BertpressError(f"{args.model} is already an ONNX export")
    report = export_onnx(model, args.output, tokenizer=_tokenizer(args.model), int8=args.int8)
    emit(args, {"output": args.output, **report.to_dict()}, render(report, args.output))


def render(report: ExportReport, output: str) -> str:
    int8_diff = "-" if report.int8_max_abs_diff is None else report.int8_max_abs_diff
    rows = [[f"{output}/{report.file}", report.size_mb, report.max_abs_diff, int8_diff]]
    table = format_table(["file", "size (MB)", "fp32 max |Δ logit|", "int8 max |Δ logit|"], rows)
    lines = [table, ""]
    for fusions in report.fusions:
        fused = ", ".join(f"{op} ×{count}" for op, count in fusions.fused_operators.items()) or "none"
        outcome = f"rejected ({fusions.rejected})" if fusions.rejected else "kept"
        lines.append(f"fusions by {fusions.step}: {fused}: {outcome}")
    return "\n".join(lines)


def _tokenizer(model: str):
    """The model's tokenizer, to ship with the export; a folder without one exports without one."""
    try:
        return load_tokenizer(model)
    except BertpressError as missing:
        print(f"bertpress export: note: {missing}; the export has no tokenizer", file=sys.stderr)
        return None
