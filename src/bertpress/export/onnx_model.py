"""An exported classifier run by ONNX Runtime, standing in for a transformers model.

It offers the surface that evaluation and timing use: ``model(**batch).logits`` (or
``.sentence_embedding`` for an exported sentence embedder) with torch
tensors in and out, ``model.config`` (``num_labels``, ``vocab_size``, ...), ``eval()``,
``device`` and ``to("cpu")``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from onnxruntime.capi.onnxruntime_pybind11_state import Fail, InvalidArgument, InvalidGraph, InvalidProtobuf
from torch import nn
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForSequenceClassification,
    PretrainedConfig,
)
from transformers.modeling_outputs import SequenceClassifierOutput

from ..errors import BertpressError, first_line
from ..models.modeling_bertpress import pruned_class_for
from ..models.outputs import EmbeddingOutput

# The fp32 graph first: it is the one loaded when a folder holds several.
STATIC_INT8_FILE = "model.int8-static.onnx"  # int8 activations too (quantize.onnx_static)
ONNX_FILES = ("model.onnx", "model.int8.onnx", STATIC_INT8_FILE)
# OpenVINO IR (an .xml graph beside its .bin weights), run by OpenVINO (export.openvino).
OPENVINO_FILES = ("openvino_model.xml", "openvino_model.int8.xml")
EXPORTED_FILES = ONNX_FILES + OPENVINO_FILES

# What ONNX Runtime raises for a damaged file: bytes that do not parse, a graph that does not
# check, or one that only fails when run. A name that is not UTF-8 surfaces as a UnicodeDecodeError.
_DAMAGED = (InvalidProtobuf, InvalidGraph, InvalidArgument, Fail, UnicodeDecodeError)


# What a graph's main output is called, and the output class that carries it.
_OUTPUTS = {"logits": SequenceClassifierOutput, "sentence_embedding": EmbeddingOutput}


def output_name(model) -> str:
    """The main output of ``model``: ``logits``, or ``sentence_embedding`` for a sentence embedder."""
    return getattr(model, "output_name", None) or (
        "sentence_embedding" if getattr(model.config, "sentence_embedding", None) else "logits"
    )


def onnx_file_in(folder: str | Path) -> Path | None:
    """The exported model (ONNX, or OpenVINO IR) a folder holds, if any."""
    return next((Path(folder) / name for name in EXPORTED_FILES if (Path(folder) / name).is_file()), None)


class OnnxClassifier:
    """One ONNX file and its model's config; ``threads`` sets ONNX Runtime's intra-op threads.

    ``export.openvino.OpenVinoClassifier`` runs an OpenVINO IR file behind the same surface.
    """

    def __init__(self, path: str | Path, config: PretrainedConfig, threads: int | None = None):
        self.path = Path(path)
        self.config = config
        self.output_name = output_name(self)
        self.device = torch.device("cpu")
        self.threads: int | None = None
        self._start_session(threads)

    @classmethod
    def from_folder(cls, folder: str | Path) -> OnnxClassifier:
        """The ONNX model in an exported folder, with the folder's ``config.json``."""
        path = onnx_file_in(folder)
        if path is None:
            raise BertpressError(f"no {' or '.join(EXPORTED_FILES)} in {folder}")
        try:
            config = AutoConfig.from_pretrained(folder)
        except (OSError, ValueError) as error:
            raise BertpressError(f"could not load model '{folder}': {first_line(error)}") from error
        if path.suffix == ".xml":
            from .openvino import OpenVinoClassifier

            return OpenVinoClassifier(path, config)
        return cls(path, config)

    def __call__(self, input_ids: torch.Tensor, **inputs: torch.Tensor) -> SequenceClassifierOutput | EmbeddingOutput:
        """Logits (or sentence embeddings) for a batch; inputs the graph does not take (e.g. token
        types for DistilBERT) are ignored."""
        defaults = {"attention_mask": torch.ones_like(input_ids), "token_type_ids": torch.zeros_like(input_ids)}
        inputs = {**defaults, **inputs, "input_ids": input_ids}
        feeds = {name: inputs[name].cpu().numpy() for name in self.input_names}
        return _OUTPUTS[self.output_name](**{self.output_name: torch.from_numpy(self._run(feeds))})

    def _run(self, feeds: dict) -> np.ndarray:
        try:
            (result,) = self.session.run([self.output_name], feeds)
        except _DAMAGED as error:
            raise BertpressError(f"ONNX Runtime could not run {self.path}: {first_line(error)}") from error
        return result

    def set_num_threads(self, threads: int | None) -> None:
        """ONNX Runtime fixes its thread pool when a session starts: a new count needs a new session."""
        if threads != self.threads:
            self._start_session(threads)

    def _start_session(self, threads: int | None) -> None:
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except _DAMAGED as error:
            raise BertpressError(f"{self.path} is damaged or not an ONNX model ({first_line(error)})") from error
        self.input_names = [node.name for node in self.session.get_inputs()]
        self.threads = threads

    def eval(self) -> OnnxClassifier:
        return self

    def to(self, device: str | torch.device) -> OnnxClassifier:
        if torch.device(device).type != "cpu":
            raise BertpressError(f"ONNX models run on the cpu here (onnxruntime's CPU provider), not on '{device}'")
        return self

    def skeleton(self) -> nn.Module:
        """The PyTorch module tree the graph was exported from, on the meta device: every shape
        (for adapters, parameter and MAC counts) and no weights."""
        with torch.device("meta"):
            if getattr(self.config, "bertpress", None):
                return pruned_class_for(self.config.architectures[0])(self.config)
            if self.output_name == "sentence_embedding":
                return AutoModel.from_config(self.config)
            return AutoModelForSequenceClassification.from_config(self.config)


def torch_module(model) -> nn.Module:
    """The ``nn.Module`` whose shapes describe ``model``: the model itself, or an ONNX model's skeleton."""
    return model.skeleton() if isinstance(model, OnnxClassifier) else model
