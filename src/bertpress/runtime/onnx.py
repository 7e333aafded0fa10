"""ONNX Runtime: an exported ``.onnx`` file run on the CPU provider."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
from onnxruntime.capi.onnxruntime_pybind11_state import Fail, InvalidArgument, InvalidGraph, InvalidProtobuf

from ..errors import BertpressError, first_line
from .exported import ExportedModel

# What ONNX Runtime raises for a damaged file: bytes that do not parse, a graph that does not
# check, or one that only fails when run. A name that is not UTF-8 surfaces as a UnicodeDecodeError.
_DAMAGED = (InvalidProtobuf, InvalidGraph, InvalidArgument, Fail, UnicodeDecodeError)


def session_options(threads: int | None) -> ort.SessionOptions:
    """Options for every session bertpress starts. Spinning is off: an idle session's threads
    would otherwise keep spinning for a while after each run and steal cores from whatever runs
    next in the process (another backend being timed)."""
    options = ort.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    if threads:
        options.intra_op_num_threads = threads
    return options


class OnnxRuntimeModel(ExportedModel):
    """An ONNX file and its model's config, run by ONNX Runtime."""

    def _start(self, threads: int | None) -> list[str]:
        try:
            self.session = ort.InferenceSession(str(self.path), session_options(threads), providers=["CPUExecutionProvider"])
        except _DAMAGED as error:
            raise BertpressError(f"{self.path} is damaged or not an ONNX model ({first_line(error)})") from error
        return [node.name for node in self.session.get_inputs()]

    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        try:
            results = self.session.run(list(self.output_names), feeds)
        except _DAMAGED as error:
            raise BertpressError(f"ONNX Runtime could not run {self.path}: {first_line(error)}") from error
        return dict(zip(self.output_names, results))
