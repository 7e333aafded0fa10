"""Loading any model folder: an exported one runs on its runtime, anything else is PyTorch.

The choice is made here, above both ``models`` (PyTorch) and the runtimes, so that neither
needs to know the other.
"""

from __future__ import annotations

from pathlib import Path

from transformers import AutoConfig, PreTrainedModel

from ..errors import BertpressError, first_line
from ..models.loading import load_model, resolve_model
from .backends import EXPORTED_FILES, backend_of_file
from .exported import ExportedModel
from .onnx import OnnxRuntimeModel
from .openvino import OpenVinoModel

_RUNTIMES = {"onnx": OnnxRuntimeModel, "openvino": OpenVinoModel}


def exported_file_in(folder: str | Path) -> Path | None:
    """The exported model a folder holds, if any (the fp32 graph first where it holds several)."""
    return next((Path(folder) / name for name in EXPORTED_FILES if (Path(folder) / name).is_file()), None)


def exported_model(path: str | Path, config, threads: int | None = None) -> ExportedModel:
    """The exported file ``path`` on the runtime its name says."""
    return _RUNTIMES[backend_of_file(Path(path).name).runtime](path, config, threads)


def load_exported(folder: str | Path) -> ExportedModel:
    """The exported model in ``folder``, with the folder's ``config.json``."""
    path = exported_file_in(folder)
    if path is None:
        raise BertpressError(f"no {' or '.join(EXPORTED_FILES)} in {folder}")
    try:
        config = AutoConfig.from_pretrained(folder)
    except (OSError, ValueError) as error:
        raise BertpressError(f"could not load model '{folder}': {first_line(error)}") from error
    return exported_model(path, config)


def load_any(name_or_path: str) -> PreTrainedModel | ExportedModel:
    """A model folder, hub id or alias in eval mode: an exported folder on its runtime, else PyTorch."""
    source = resolve_model(name_or_path)
    if Path(source).is_dir() and exported_file_in(source):
        return load_exported(source)
    return load_model(name_or_path)
