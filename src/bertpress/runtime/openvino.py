"""OpenVINO: an exported IR file (``.xml`` graph beside its ``.bin`` weights) run by the CPU plugin.

OpenVINO's CPU plugin would run fp32 models in bf16 on CPUs that have it: ``OpenVinoModel``
pins f32 so that an fp32 OpenVINO result means fp32, and int8 models keep f32 for what is
not quantized.
"""

from __future__ import annotations

import numpy as np

from ..errors import BertpressError, first_line
from .exported import ExportedModel


class OpenVinoModel(ExportedModel):
    """An OpenVINO IR file and its model's config, run by OpenVINO's CPU plugin (f32 where not int8)."""

    def _start(self, threads: int | None) -> list[str]:
        import openvino as ov

        options = {"INFERENCE_PRECISION_HINT": "f32"}
        if threads:
            options["INFERENCE_NUM_THREADS"] = threads
        try:
            self.compiled = ov.Core().compile_model(str(self.path), "CPU", options)
        except RuntimeError as error:
            raise BertpressError(f"{self.path} is damaged or not an OpenVINO model ({first_line(error)})") from error
        return [port.get_any_name() for port in self.compiled.inputs]

    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        results = self.compiled(feeds)
        return {name: results[self.compiled.output(name)] for name in self.output_names}
