"""Shared by the benchmarks: the machine description and RESULTS.md sections."""

from __future__ import annotations

import datetime
import os
import re
from pathlib import Path

import torch

from bertpress.measure.machine import this_machine

RESULTS = Path(__file__).with_name("RESULTS.md")


def verdict(ok: bool) -> str:
    """A target row's last cell."""
    return "met" if ok else "MISSED"


def shared_dir(cli_value: str | None) -> Path:
    """The folder with the shared teachers and data: the flag, $BERTPRESS_SHARED or ../shared."""
    path = Path(cli_value or os.environ.get("BERTPRESS_SHARED") or Path(__file__).parents[2] / "shared")
    if not (path / "models").is_dir():
        raise SystemExit(f"no shared teachers under {path}: pass --shared or set BERTPRESS_SHARED")
    return path


def kept_models_dir(benchmark: str) -> Path:
    """Where ``benchmark`` keeps the models it made, outside the repository: $BERTPRESS_CACHE/benchmarks/NAME
    (default ~/.cache/bertpress)."""
    root = Path(os.environ.get("BERTPRESS_CACHE") or Path.home() / ".cache" / "bertpress")
    return root / "benchmarks" / benchmark


def machine() -> str:
    """The CPU's name with the instruction-set features that pick the runtimes' kernels (two hosts that
    both say "AMD EPYC", a Zen 1 with AVX2 only and a newer one with VNNI, were 14x apart in OpenVINO
    int8), its cores, torch and the date. No comma in the CPU part: rows compare machines by the text
    before the first one."""
    host = this_machine(torch.get_num_threads())
    return (
        f"{host.cpu} ({' '.join(host.features) or 'no vector extensions listed'}), {os.cpu_count()} cores, "
        f"torch {torch.__version__} with {torch.get_num_threads()} threads, {datetime.date.today().isoformat()}"
    )


def write_section(name: str, markdown: str) -> None:
    """Replace (or append) the section ``name`` of RESULTS.md, leaving the others alone."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{markdown.strip()}\n{end}"
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    RESULTS.write_text(text)


def markdown_table(headers: list[str], rows: list[list]) -> str:
    def cell(value) -> str:
        return f"{value:.2f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
