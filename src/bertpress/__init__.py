"""bertpress: make fine-tuned BERT-family encoders really smaller and faster, and prove it."""

from .errors import BertpressError
from .models.loading import load_model as load

__all__ = ["BertpressError", "load"]
__version__ = "0.1.0"
