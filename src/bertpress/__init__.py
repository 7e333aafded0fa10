"""bertpress: make fine-tuned BERT-family encoders really smaller and faster, and prove it."""

from .errors import BertpressError
from .quiet import silence_import_noise

silence_import_noise()  # before anything imports transformers

__all__ = ["BertpressError", "load"]


def __getattr__(name: str):
    """``load`` and ``__version__`` on first use: importing the package (and so the command line,
    whose ``--help`` must answer at once) loads neither torch nor the installed packages' metadata."""
    if name == "load":
        from .runtime.loading import load_any

        return load_any
    if name == "__version__":
        from importlib.metadata import version

        return version(__name__)  # pyproject.toml's, the one place it is written
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
