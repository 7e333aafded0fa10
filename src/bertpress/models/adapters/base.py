"""What every algorithm needs to know about an encoder family, and nothing more.

An adapter is the only code that knows module names. Paths are relative to the
base model (``model.base_model``), so they hold for ``AutoModel`` and every task head.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import nn
from transformers import PretrainedConfig

from ...errors import BertpressError


@dataclass(frozen=True)
class LayerPaths:
    """Where one transformer layer's parts live, relative to the base model."""

    layer: str
    attention: str  # the module that turns hidden states into per-head context
    query: str
    key: str
    value: str
    attention_output: str  # projects concatenated head contexts back to the hidden size
    # The LayerNorm that each block's output plus the residual enters next: the block's own in
    # post-LayerNorm layers (BERT); in pre-LayerNorm ones (ModernBERT) the one opening the next block.
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

    @classmethod
    def first_position(cls, config: PretrainedConfig) -> int:
        """The number of the first token's position: slots below it in the table are never used."""
        return 0

    def head_projections(self, index: int) -> dict[str, int]:
        """Layer ``index``'s Linears whose output rows are laid out head by head, each with how
        many such blocks it stacks (3 for a fused Q/K/V projection); shrinking keeps their rows
        of the kept heads."""
        paths = self.layer_paths(index)
        return {paths.query: 1, paths.key: 1, paths.value: 1}

    def neuron_projections(self, index: int) -> dict[str, int]:
        """As ``head_projections``, for the Linears whose output rows are laid out per FFN neuron."""
        return {self.layer_paths(index).ffn_input: 1}

    @property
    def tuning_refusal(self) -> str | None:
        """Why mask tuning (``prune.reconstruct``) cannot fit this model, or None. It streams hidden
        states layer by layer, taking a layer's output to be its FFN LayerNorm's output (post-norm
        blocks), handed unchanged to the next layer."""
        return None

    @property
    def fused_attention_refusal(self) -> str | None:
        """Why OpenVINO's conversion from PyTorch, which runs attention as one fused op, may not compute
        what PyTorch computes for this family (its OpenVINO IR then comes from the ONNX graph), or None."""
        return None

    def check_tunable(self) -> None:
        """Refuse mask tuning of a model it cannot fit, in one line."""
        if self.tuning_refusal:
            raise BertpressError(f"mask tuning cannot fit this {self.config.model_type} model: {self.tuning_refusal}")

    def relative_position_macs(self, seq_length: float) -> float:
        """MACs one head spends on relative positions per sequence, beyond Q, K, V, O and its scores
        (DeBERTa's disentangled terms); nothing for most families."""
        return 0.0

    def keep_heads(self, index: int, kept: list[int]) -> None:
        """Called once layer ``index``'s projections compute only heads ``kept`` (its current
        indices, in the order kept). Most families need nothing more: their attention reads the
        head count from the projections' shapes."""

    def spec_entries(self) -> dict:
        """What ``modeling_bertpress`` needs, beyond Linear shapes and emptied attention blocks, to
        rebuild this model's pruned module tree (entries of the config's ``bertpress`` spec)."""
        return {}

    @property
    def num_layers(self) -> int:
        return getattr(self.config, self.num_layers_key)

    @property
    def hidden_size(self) -> int:
        return self.config.hidden_size

    @property
    def head_size(self) -> int:
        return self.config.hidden_size // self.config.num_attention_heads

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
