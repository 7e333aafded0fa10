"""The machine a timing ran on, as reports print it: a speed claim holds for one CPU and one
thread count. The CPU's instruction-set features decide which kernels the runtimes pick (int8 dot
products need VNNI or AMX to beat fp32; OpenVINO runs bf16 where the CPU has it), so two machines
can rank the backends differently. Reads /proc/cpuinfo and package metadata only: nothing heavy.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")

# The cpuinfo flags that change the runtimes' kernels: vector width (avx2, avx512f), int8 dot
# products (avx512_vnni, avx_vnni, amx_int8), bf16 (avx512_bf16, amx_bf16); asimd/sve on Arm.
FEATURES = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16",
            "amx_tile", "amx_int8", "amx_bf16", "asimd", "sve")

# The runtimes whose versions a timing depends on.
RUNTIMES = ("torch", "onnxruntime", "openvino")


@dataclass(frozen=True)
class Machine:
    cpu: str  # the model name
    cores: int  # the cores this process may run on
    features: list[str]  # the FEATURES the CPU has
    threads: dict[str, int]  # intra-op threads each runtime was given while timing
    versions: dict[str, str] = field(default_factory=dict)  # of the runtimes installed

    def describe(self) -> str:
        features = " ".join(self.features) or "no vector extensions listed"
        threads = ", ".join(f"{name} {count}" for name, count in self.threads.items())
        versions = ", ".join(f"{name} {version}" for name, version in self.versions.items())
        return f"{self.cpu}, {self.cores} cores ({features}); threads: {threads}; {versions}"


def this_machine(threads: int) -> Machine:
    """This machine, where every runtime times with ``threads`` intra-op threads (see
    ``measure.latency.timing_threads``: PyTorch, ONNX Runtime and OpenVINO all get that count)."""
    info = _cpuinfo()
    flags = set(info.get("flags", info.get("Features", "")).split())
    return Machine(
        cpu=info.get("model name") or platform.processor() or platform.machine(),
        cores=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1,
        features=[name for name in FEATURES if name in flags],
        threads={runtime: threads for runtime in RUNTIMES},
        versions=_versions(),
    )


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields (all processors of a machine report the same model and flags)."""
    if not CPUINFO.is_file():
        return {}
    fields: dict[str, str] = {}
    for line in CPUINFO.read_text(errors="replace").splitlines():
        if not line.strip():
            if fields:
                break
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def _versions() -> dict[str, str]:
    versions = {}
    for name in RUNTIMES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions
