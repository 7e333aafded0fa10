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


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """No progress bars or warnings from transformers while loading or saving a model: a base
    checkpoint's fresh classifier head is expected, and a bad folder gets one clear error line."""
    # Imported here, not at the top: see silence_import_noise.
    from transformers.utils import logging as transformers_logging

    verbosity = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        transformers_logging.set_verbosity(verbosity)
        transformers_logging.enable_progress_bar()
