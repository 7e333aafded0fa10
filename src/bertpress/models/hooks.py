"""Forward hooks that never outlive the block that needs them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from torch.utils.hooks import RemovableHandle


@contextmanager
def hooks(handles: Iterable[RemovableHandle]) -> Iterator[None]:
    """Remove ``handles`` when the block ends, also when it raises."""
    handles = list(handles)
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
