"""bertpress: make fine-tuned BERT-family encoders really smaller and faster, and prove it."""

from .quiet import silence_import_noise

silence_import_noise()  # before anything imports transformers

from .errors import BertpressError  # noqa: E402
from .models.loading import load_model as load  # noqa: E402

__all__ = ["BertpressError", "load"]
__version__ = "0.1.0"
