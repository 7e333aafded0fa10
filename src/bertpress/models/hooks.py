"""Forward hooks, and layers' recomputation, that never outlive the block that needs them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import partial

from torch.utils.checkpoint import checkpoint
from torch.utils.hooks import RemovableHandle

from .adapters import Adapter


@contextmanager
def hooks(handles: Iterable[RemovableHandle]) -> Iterator[None]:
    """Remove ``handles`` when the block ends, also when it raises."""
    handles = list(handles)
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def recomputed_layers(adapter: Adapter) -> Iterator[None]:
    """Within the block each layer keeps only its input for backward and recomputes the rest there
    (activation checkpointing: one more forward pass, the same gradients; dropout draws the same
    masks again, and hooks on the layer run again with it)."""
    layers = [adapter.layer(index) for index in range(adapter.num_layers)]
    for layer in layers:
        layer.forward = partial(checkpoint, layer.forward, use_reentrant=False)
    try:
        yield
    finally:
        for layer in layers:
            del layer.forward  # the instance attribute: the class's forward shows through again
