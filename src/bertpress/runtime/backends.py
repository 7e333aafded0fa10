"""The backends: every way bertpress runs a model, in one table.

A backend is a runtime and a precision. Everything else (the ``bench`` and ``optimize`` choices,
the recipe steps that make a backend, the file an exported folder holds for it, the name the
report gives a compressed model's way of running) is derived from ``BACKENDS``. This module
imports nothing heavy: the command line reads it to list the choices.

The files are named as sentence-transformers names them (``export_dynamic_quantized_onnx_model``
writes ``model_qint8_quantized.onnx``, ``export_static_quantized_openvino_model``
``openvino_model_qint8_quantized.xml``), and a sentence-transformers folder keeps them in a
subfolder named after the runtime (``runtime_folder``), where its ``backend="onnx"`` and
``backend="openvino"`` look.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..errors import BertpressError

Runtime = Literal["torch", "onnx", "openvino"]
Int8 = Literal["dynamic", "static"]


@dataclass(frozen=True)
class Backend:
    name: str
    runtime: Runtime
    int8: Int8 | None  # None: fp32; dynamic: weights int8, activations quantized per batch; static: calibrated
    file: str | None  # the exported model file (None: a PyTorch folder)
    former_files: tuple[str, ...] = ()  # what bertpress named the file before: folders written then still load


BACKENDS: dict[str, Backend] = {
    backend.name: backend
    for backend in (
        Backend("torch-fp32", "torch", None, None),
        Backend("torch-int8", "torch", "dynamic", None),  # torchao; the folder keeps fp32 weights
        Backend("onnx-fp32", "onnx", None, "model.onnx"),
        Backend("onnx-int8", "onnx", "dynamic", "model_qint8_quantized.onnx", ("model.int8.onnx",)),
        # sentence-transformers has no name for a static ONNX int8 file: ours
        Backend("onnx-int8-static", "onnx", "static", "model_qint8_static.onnx", ("model.int8-static.onnx",)),
        Backend("openvino-fp32", "openvino", None, "openvino_model.xml"),
        Backend("openvino-int8", "openvino", "static", "openvino_model_qint8_quantized.xml", ("openvino_model.int8.xml",)),  # NNCF
    )
}

BACKEND_NAMES: tuple[str, ...] = tuple(BACKENDS)

# The exported files in the order a folder holding several is read: the fp32 graph first; each
# backend's former names after its own.
EXPORTED_FILES: tuple[str, ...] = tuple(
    name for b in BACKENDS.values() if b.file is not None for name in (b.file, *b.former_files)
)

# The runtimes that run exported files (not PyTorch), in the table's order.
EXPORT_RUNTIMES: tuple[Runtime, ...] = tuple(dict.fromkeys(b.runtime for b in BACKENDS.values() if b.file is not None))


def get_backend(name: str) -> Backend:
    if name not in BACKENDS:
        raise BertpressError(f"unknown backend '{name}' (choose from {', '.join(BACKENDS)})")
    return BACKENDS[name]


def backend_of(runtime: Runtime, int8: Int8 | None) -> Backend:
    """The backend that runs ``runtime`` at precision ``int8``."""
    return next(b for b in BACKENDS.values() if (b.runtime, b.int8) == (runtime, int8))


def runtime_folder(runtime: Runtime) -> str:
    """The subfolder a sentence-transformers folder keeps ``runtime``'s files in (``onnx/``, ``openvino/``)."""
    return runtime


def backend_of_file(file: str) -> Backend:
    """The backend whose exported file is named ``file``."""
    return next(b for b in BACKENDS.values() if file == b.file or file in b.former_files)


def weight_file(file: str) -> str:
    """The file holding the weights of exported model ``file`` (OpenVINO keeps them in a .bin beside the .xml)."""
    return file.removesuffix(".xml") + ".bin" if file.endswith(".xml") else file
