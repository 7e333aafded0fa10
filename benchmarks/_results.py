"""Shared by the benchmarks: the machine description and RESULTS.md sections."""

from __future__ import annotations

import datetime
import os
import platform
import re
from pathlib import Path

import torch

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


# The widest vector instructions a CPU has, best first: int8 speed depends on them far more than on the name.
VECTOR_FLAGS = ("amx_int8", "avx512_vnni", "avx_vnni", "avx512f", "avx2")


def cpu_name() -> str:
    """The CPU as /proc/cpuinfo names it, with its family, model and widest vector instructions: two hosts
    that both say "AMD EPYC" were a Zen 1 without AVX-512 and a newer one with VNNI, 14x apart in
    OpenVINO int8. No comma: rows compare machines by the text before the first one."""
    try:
        info = dict(line.split(":", 1) for line in Path("/proc/cpuinfo").read_text().split("\n\n")[0].splitlines() if ":" in line)
    except OSError:
        return platform.processor() or platform.machine()
    info = {key.strip(): value.strip() for key, value in info.items()}
    flags = set(info.get("flags", "").split())
    widest = next((flag for flag in VECTOR_FLAGS if flag in flags), "no avx2")
    return f"{info.get('model name', platform.machine())} (family {info.get('cpu family', '?')} model {info.get('model', '?')} {widest})"


def machine() -> str:
    return (
        f"{cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__} with {torch.get_num_threads()} threads, "
        f"{datetime.date.today().isoformat()}"
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
