"""Loading any model folder: an exported one runs on its runtime, anything else is PyTorch.

The choice is made here, above both ``models`` (PyTorch) and the runtimes, so that neither
needs to know the other.
"""

from __future__ import annotations

from pathlib import Path

from transformers import AutoConfig, PreTrainedModel

from ..errors import BertpressError, first_line
from ..models.loading import WEIGHT_FILES, load_model, resolve_model
from .backends import BACKENDS, EXPORT_RUNTIMES, EXPORTED_FILES, backend_of_file, runtime_folder
from .exported import ExportedModel
from .onnx import OnnxRuntimeModel
from .openvino import OpenVinoModel

_RUNTIMES = {"onnx": OnnxRuntimeModel, "openvino": OpenVinoModel}


def exported_file_in(folder: str | Path) -> Path | None:
    """The exported model a folder holds, if any (the fp32 graph first where it holds several): at
    its root, or, in a folder with no PyTorch weights of its own (a sentence-transformers folder
    ``bertpress export --embedding`` wrote), in the ``onnx/`` or ``openvino/`` subfolder where
    sentence-transformers' backends look. A folder with weights is a PyTorch model whatever its
    subfolders hold (a compressed model keeps its export beside it)."""
    folder = Path(folder)
    places = [folder]
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        places += [folder / runtime_folder(runtime) for runtime in EXPORT_RUNTIMES]
    return next((place / name for place in places for name in EXPORTED_FILES if (place / name).is_file()), None)


def exported_model(path: str | Path, config, threads: int | None = None) -> ExportedModel:
    """The exported file ``path`` on the runtime its name says."""
    return _RUNTIMES[backend_of_file(Path(path).name).runtime](path, config, threads)


def load_exported(folder: str | Path) -> ExportedModel:
    """The exported model in ``folder``, with the ``config.json`` beside its file."""
    path = exported_file_in(folder)
    if path is None:
        raise BertpressError(f"no exported model ({', '.join(b.file for b in BACKENDS.values() if b.file)}) in {folder}")
    try:
        config = AutoConfig.from_pretrained(path.parent)
    except (OSError, ValueError) as error:
        raise BertpressError(f"could not load model '{folder}': {first_line(error)}") from error
    return exported_model(path, config)


def load_any(name_or_path: str) -> PreTrainedModel | ExportedModel:
    """A model folder, hub id or alias in eval mode: an exported folder on its runtime, else PyTorch."""
    source = resolve_model(name_or_path)
    if Path(source).is_dir() and exported_file_in(source):
        return load_exported(source)
    return load_model(name_or_path)
