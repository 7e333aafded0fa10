"""How many tokens a model takes: a longer ``--max-length`` would fail deep inside its embeddings
on the first long text, after minutes of work, so it is refused before any."""

from __future__ import annotations

from transformers import PretrainedConfig

from ..errors import BertpressError
from .adapters import ADAPTERS, Adapter


def usable_positions(config: PretrainedConfig) -> int | None:
    """The longest input ``config``'s model takes, in tokens; None if the config does not say."""
    positions = getattr(config, "max_position_embeddings", None)
    if positions is None:
        return None
    # A family without an adapter is refused elsewhere, with its own message.
    return positions - ADAPTERS.get(config.model_type, Adapter).first_position(config)


def check_max_length(config: PretrainedConfig, max_length: int, model: str) -> None:
    """Refuse a ``max_length`` longer than the model ``model`` (named for the message) takes."""
    limit = usable_positions(config)
    if limit is not None and max_length > limit:
        raise BertpressError(f"--max-length {max_length} is more than {model} takes ({limit} tokens); use at most {limit}")
