"""Saving a model folder that stock tools load: weights, config, tokenizer, modeling file."""

from __future__ import annotations

import shutil
from pathlib import Path

from transformers import PreTrainedModel

from ..quiet import quiet_transformers
from . import modeling_bertpress

_AUTO_CLASSES = {
    "Model": "AutoModel",
    "ForSequenceClassification": "AutoModelForSequenceClassification",
    "ForQuestionAnswering": "AutoModelForQuestionAnswering",
    "ForTokenClassification": "AutoModelForTokenClassification",
}


# The remote code that stock ``from_pretrained(trust_remote_code=True)`` loads a pruned model with.
REMOTE_CODE_FILE = "modeling_bertpress.py"


def save_model(model: PreTrainedModel, tokenizer, folder: str | Path) -> None:
    """Write ``model`` and ``tokenizer`` into ``folder`` (use inside ``outputs.atomic_dir``).

    A pruned model (its config has a ``bertpress`` entry) also gets ``modeling_bertpress.py`` and
    an ``auto_map``, so ``AutoModelFor…from_pretrained(folder, trust_remote_code=True)`` works.
    """
    folder = Path(folder)
    if getattr(model.config, "bertpress", None):
        family = _family(type(model).__name__)
        model.config.auto_map = {
            auto: f"modeling_bertpress.Pruned{family}{suffix}" for suffix, auto in _AUTO_CLASSES.items()
        }
        shutil.copyfile(modeling_bertpress.__file__, folder / REMOTE_CODE_FILE)
    with quiet_transformers():
        model.save_pretrained(folder)
    config_architectures = model.config.architectures or []
    if config_architectures and config_architectures[0].startswith("Pruned"):
        # Record the stock architecture: the pruned class is derived from it on load.
        model.config.architectures = [config_architectures[0].removeprefix("Pruned")]
        model.config.save_pretrained(folder)
    if tokenizer is not None:
        tokenizer.save_pretrained(folder)


def _family(class_name: str) -> str:
    """``PrunedBertForSequenceClassification`` -> ``Bert``."""
    name = class_name.removeprefix("Pruned")
    for suffix in _AUTO_CLASSES:
        if suffix != "Model" and name.endswith(suffix):
            return name.removesuffix(suffix)
    return name.removesuffix("Model")
