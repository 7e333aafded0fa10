"""What every algorithm needs to know about an encoder family, and nothing more.

An adapter is the only code that knows module names. Paths are relative to the
base model (``model.base_model``), so they hold for ``AutoModel`` and every task head.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import nn


@dataclass(frozen=True)
class LayerPaths:
    """Where one transformer layer's parts live, relative to the base model."""

    layer: str
    attention: str  # the module that turns hidden states into per-head context
    query: str
    key: str
    value: str
    attention_output: str  # projects concatenated head contexts back to the hidden size
    attention_norm: str
    ffn_input: str
    ffn_output: str
    ffn_norm: str
    # Set when the output projection lives inside ``attention`` (DistilBERT); an
    # emptied attention block must then keep it under this attribute name.
    attention_output_attr: str | None = None


class Adapter:
    """Base class: subclasses set ``model_types`` and ``layer_paths``."""

    model_types: ClassVar[tuple[str, ...]] = ()
    num_layers_key: ClassVar[str] = "num_hidden_layers"  # the config entry holding the layer count

    def __init__(self, model: nn.Module):
        self.model = model
        self.base = model.base_model
        self.config = model.config

    # --- family knowledge (overridden) ---------------------------------
    def layer_paths(self, index: int) -> LayerPaths:
        raise NotImplementedError

    @property
    def num_layers(self) -> int:
        return getattr(self.config, self.num_layers_key)

    @property
    def hidden_size(self) -> int:
        raise NotImplementedError

    @property
    def head_size(self) -> int:
        raise NotImplementedError

    # --- derived, family-independent ----------------------------------
    def module(self, path: str) -> nn.Module:
        return self.base.get_submodule(path)

    def layer(self, index: int) -> nn.Module:
        return self.module(self.layer_paths(index).layer)

    def attention_output(self, index: int) -> nn.Linear:
        return self.module(self.layer_paths(index).attention_output)

    def ffn_input(self, index: int) -> nn.Linear:
        return self.module(self.layer_paths(index).ffn_input)

    def ffn_output(self, index: int) -> nn.Linear:
        return self.module(self.layer_paths(index).ffn_output)

    def attention_norm(self, index: int) -> nn.LayerNorm:
        return self.module(self.layer_paths(index).attention_norm)

    def ffn_norm(self, index: int) -> nn.LayerNorm:
        return self.module(self.layer_paths(index).ffn_norm)

    def heads_per_layer(self) -> list[int]:
        """Heads each layer really computes (read from weight shapes, so pruned models work)."""
        return [self.attention_output(i).in_features // self.head_size for i in range(self.num_layers)]

    def neurons_per_layer(self) -> list[int]:
        return [self.ffn_output(i).in_features for i in range(self.num_layers)]

    def layers_path(self) -> str:
        """Where the ModuleList holding the layers lives (the layer path minus the index)."""
        return self.layer_paths(0).layer.rsplit(".", 1)[0]

    def layers_module(self) -> nn.ModuleList:
        return self.module(self.layers_path())

    def keep_layers(self, kept: list[int]) -> None:
        """Keep only the layers ``kept`` (ascending indices), renumbered from 0; the config follows."""
        layers = self.layers_module()
        self.base.set_submodule(self.layers_path(), nn.ModuleList([layers[i] for i in kept]))
        setattr(self.config, self.num_layers_key, len(kept))

    def per_token_linears(self) -> list[nn.Linear]:
        """Linears outside the layers that run on every token (ELECTRA's embedding projection)."""
        embeddings = getattr(self.base, "embeddings", None)
        return [m for m in embeddings.modules() if isinstance(m, nn.Linear)] if embeddings is not None else []

    def per_sequence_linears(self) -> list[nn.Linear]:
        """Linears outside the encoder that run once per sequence: pooler and classification head."""
        inside = {id(m) for m in self.layers_module().modules()}
        inside |= {id(m) for m in self.per_token_linears()}
        return [m for m in self.model.modules() if isinstance(m, nn.Linear) and id(m) not in inside]
