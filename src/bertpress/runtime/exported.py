"""What every runtime's model offers: the surface of a transformers model that evaluation and
timing use, over a file ``bertpress export`` wrote.

``model(**batch).logits`` (``.start_logits`` and ``.end_logits`` for question answering,
``.sentence_embedding`` for a sentence embedder) with torch tensors in and out, ``model.config`` (``num_labels``, ``vocab_size``, ...), ``eval()``,
``device``, ``to("cpu")`` and ``set_num_threads``. A runtime subclass starts its engine and runs
one batch; nothing else differs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn
from transformers import AutoModel, PretrainedConfig
from transformers.modeling_outputs import QuestionAnsweringModelOutput, SequenceClassifierOutput
from transformers.utils import ModelOutput

from ..errors import BertpressError
from ..models.modeling_bertpress import pruned_class_for
from ..models.outputs import EmbeddingOutput
from ..models.task_heads import Embedding, auto_model_for, task_head_for_config

# What a graph's outputs are called, and the output class that carries them.
_OUTPUTS = {
    ("logits",): SequenceClassifierOutput,
    ("start_logits", "end_logits"): QuestionAnsweringModelOutput,
    Embedding.output_names: EmbeddingOutput,
}


def output_names(model) -> tuple[str, ...]:
    """The outputs of ``model`` its task head reads (``logits``; ``start_logits`` and ``end_logits``;
    ``sentence_embedding`` for a sentence embedder), in the order a graph returns them."""
    if getattr(model, "pooling", None) is not None or getattr(model.config, "sentence_embedding", None):
        return Embedding.output_names
    return task_head_for_config(model.config).output_names


class ExportedModel:
    """One exported file and its model's config; ``threads`` sets the runtime's intra-op threads."""

    def __init__(self, path: str | Path, config: PretrainedConfig, threads: int | None = None):
        self.path = Path(path)
        self.config = config
        self.output_names = output_names(self)
        self.device = torch.device("cpu")
        self.threads: int | None = None
        self.input_names: list[str] = []
        self.set_num_threads(threads)

    def __call__(self, input_ids: torch.Tensor, **inputs: torch.Tensor) -> ModelOutput:
        """The outputs for a batch; inputs the graph does not take (e.g. token types for DistilBERT)
        are ignored."""
        defaults = {"attention_mask": torch.ones_like(input_ids), "token_type_ids": torch.zeros_like(input_ids)}
        inputs = {**defaults, **inputs, "input_ids": input_ids}
        feeds = {name: inputs[name].cpu().numpy() for name in self.input_names}
        results = self._run(feeds)
        return _OUTPUTS[self.output_names](**{name: torch.from_numpy(results[name]) for name in self.output_names})

    def set_num_threads(self, threads: int | None) -> None:
        """Runtimes fix their thread pool when they start: a new count needs a new start."""
        if threads != self.threads or not self.input_names:
            self.input_names = self._start(threads)
            self.threads = threads

    def _start(self, threads: int | None) -> list[str]:
        """Start the runtime on ``self.path`` with ``threads``; returns the graph's input names."""
        raise NotImplementedError

    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The outputs named ``self.output_names`` for one batch of graph inputs."""
        raise NotImplementedError

    def eval(self) -> ExportedModel:
        return self

    def to(self, device: str | torch.device) -> ExportedModel:
        if torch.device(device).type != "cpu":
            raise BertpressError(f"exported models run on the cpu here, not on '{device}'")
        return self

    def skeleton(self) -> nn.Module:
        """The PyTorch module tree the graph was exported from, on the meta device: every shape
        (for adapters, parameter and MAC counts) and no weights."""
        with torch.device("meta"):
            if getattr(self.config, "bertpress", None):
                return pruned_class_for(self.config.architectures[0])(self.config)
            if self.output_names == Embedding.output_names:
                return AutoModel.from_config(self.config)
            return auto_model_for(self.config).from_config(self.config)


def torch_module(model) -> nn.Module:
    """The ``nn.Module`` whose shapes describe ``model``: the model itself, or an exported model's skeleton."""
    return model.skeleton() if isinstance(model, ExportedModel) else model
