"""One backend of a model written into a folder: the file ``runtime.backends`` names for it, and,
for a sentence embedder, the sentence-transformers folder around it.

A sentence-transformers folder keeps an exported graph in a subfolder named after its runtime
(``onnx/model.onnx``, ``openvino/openvino_model.xml``); its ``backend="onnx"`` and
``backend="openvino"`` (through optimum) feed the tokenizer's ``input_ids``, ``attention_mask`` and,
where the graph takes them, ``token_type_ids``, read the graph's ``last_hidden_state`` output as
the token embeddings, and pool them with the folder's own ``Pooling`` and ``Normalize`` modules.
bertpress's graphs output ``last_hidden_state`` beside the ``sentence_embedding`` they pool
themselves (``onnx.graph_output_names``), so the same file serves both.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Sequence

from ..card import export_card, folder_files, write_card
from ..errors import BertpressError
from ..models.adapters import get_adapter
from ..models.task_heads import Embedding
from ..outputs import atomic_dir
from ..runtime.backends import Backend, runtime_folder
from ..runtime.exported import output_names
from .onnx import ExportReport, StaticCalibration, export_config, write_export
from .openvino import write_openvino


def write_backend(
    model, folder: Path, backend: Backend, *, tokenizer=None, static: StaticCalibration | None = None
) -> ExportReport:
    """Into the existing ``folder``: ``backend``'s file of ``model`` (a static int8 one calibrated on
    ``static``), config.json, the tokenizer and export.json: a folder ``bertpress.load`` runs."""
    if backend.runtime == "torch":
        raise BertpressError(f"{backend.name} runs the PyTorch model: there is nothing to export")
    if backend.int8 == "static" and static is None:
        raise BertpressError(f"{backend.name} is calibrated: it needs sample inputs")
    calibration = static if backend.int8 == "static" else None
    if backend.runtime == "openvino":
        report = write_openvino(model, folder, calibration)
        if tokenizer is not None:
            tokenizer.save_pretrained(folder)
        return report
    return write_export(model, folder, tokenizer=tokenizer, int8=backend.int8 == "dynamic", static=calibration)


def export_folder(
    model,
    output: str | Path,
    backend: Backend,
    *,
    tokenizer=None,
    static: StaticCalibration | None = None,
    overwrite: bool = False,
    inputs: Sequence[str] = (),
    base_model: str | None = None,
) -> ExportReport:
    """Write folder ``output`` atomically with ``backend``'s file of ``model`` and a model card: at
    its root for a task model; for a sentence embedder, in the runtime's subfolder of a
    sentence-transformers folder (``modules.json``, pooling, config and tokenizer at the root).
    The report's ``output`` is the folder that holds the file."""
    embedder = is_embedder(model)
    with atomic_dir(output, overwrite=overwrite, inputs=inputs) as folder:
        place = folder / runtime_folder(backend.runtime) if embedder else folder
        if embedder:
            write_sentence_transformers_root(model, folder, tokenizer)
            place.mkdir()
        report = write_backend(model, place, backend, tokenizer=tokenizer, static=static)
        task = getattr(model.config, "finetuning_task", None)
        write_card(folder, export_card(report.to_dict(), base_model, task, embedder, folder_files(folder)))
    return replace(report, output=str(Path(output) / place.relative_to(folder)))


def is_embedder(model) -> bool:
    """Whether ``model`` is a sentence embedder (its graph outputs ``sentence_embedding``)."""
    return output_names(model) == Embedding.output_names


def write_sentence_transformers_root(model, folder: Path, tokenizer) -> None:
    """What sentence-transformers reads at a folder's root besides the weights: the modules with
    the embedder's pooling, the encoder's config (with the pooling the graph computes) and the tokenizer."""
    model.pooling.write(folder, get_adapter(model).hidden_size)
    export_config(model).save_pretrained(folder)
    if tokenizer is not None:
        tokenizer.save_pretrained(folder)
