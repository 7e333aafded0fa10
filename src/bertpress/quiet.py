"""Third-party chatter that tells a bertpress user nothing: silenced at import, or around one call."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager


def silence_import_noise() -> None:
    """Call before transformers is imported: it imports torchao whenever torchao is installed.

    torchao then logs that its CUDA-only kernels (mxfp8, cutlass sm90a) do not load on a CPU
    build, and torch logs that torchao registers Enums it no longer needs to. Neither affects
    the CPU int8 path.
    """
    logging.getLogger("torchao").setLevel(logging.ERROR)
    logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)


@contextmanager
def quiet() -> Iterator[None]:
    """Hide warnings and log records below ERROR: the ONNX exporter, optimizer and quantizer
    narrate every step, and warn about things bertpress checks itself (by validating outputs)."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)
