"""Static sentence embedders: one vector per vocabulary token, a text's embedding the mean of its
tokens' vectors. Saved and loaded as a sentence-transformers folder whose first module is
``StaticEmbedding`` (``SentenceTransformer(folder)`` reads it; model2vec folders load too).

``StaticEmbedder`` takes the same inputs as the transformer it came from (the model's own
tokenizer, with its special tokens), so bertpress's evaluation runs it unchanged: the tokens a
tokenizer adds around every text are left out of the mean, as ``StaticEmbedding`` never adds them.
``embed_texts`` gives the same embeddings straight from texts, without padding: what
``measure.embeddings.embed`` runs, and where a static model's speed comes from.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import PretrainedConfig

from ..errors import BertpressError
from .outputs import EmbeddingOutput

_STATIC_MODULE = "StaticEmbedding"


class StaticEmbedder(nn.Module):
    """``vectors`` (vocabulary x dimensions), averaged over a text's tokens; unit length with ``normalize``."""

    def __init__(self, vectors: torch.Tensor, added_ids: list[int], normalize: bool = False):
        super().__init__()
        self.embedding = nn.Embedding.from_pretrained(vectors.float(), freeze=False)
        self.register_buffer("added_ids", torch.tensor(sorted(added_ids), dtype=torch.long), persistent=False)
        self.normalize = normalize

    @property
    def device(self) -> torch.device:
        return self.embedding.weight.device

    @property
    def config(self) -> PretrainedConfig:
        """What bertpress's timing reads of a model (random inputs are drawn from its vocabulary)."""
        return PretrainedConfig(vocab_size=self.embedding.num_embeddings, hidden_size=self.embedding.embedding_dim)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **_) -> EmbeddingOutput:
        keep = torch.ones_like(input_ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
        keep = (keep & ~torch.isin(input_ids, self.added_ids)).unsqueeze(-1).float()
        tokens = self.embedding(input_ids)
        # An empty text has the zero vector, as sentence-transformers' EmbeddingBag gives it.
        pooled = (tokens * keep).sum(1) / keep.sum(1).clamp(min=1)
        return EmbeddingOutput(
            sentence_embedding=F.normalize(pooled, dim=-1) if self.normalize else pooled, last_hidden_state=tokens
        )

    @torch.inference_mode()
    def embed_texts(self, tokenizer, texts: list[str], max_length: int, chunk: int = 4096) -> torch.Tensor:
        """``forward``'s sentence embeddings of ``texts`` cut at ``max_length`` tokens as ``tokenizer``
        cuts them, computed without padding: the Rust tokenizer's ids of ``chunk`` texts at a time go
        into one ``embedding_bag`` (memory bounded by the chunk, not by the number of texts)."""
        backend = tokenizer.backend_tokenizer  # transformers sets its truncation and padding on every call too
        backend.no_padding()
        backend.enable_truncation(max(max_length - tokenizer.num_special_tokens_to_add(), 1))
        added = self.added_ids.cpu().numpy()
        rows = []
        for start in range(0, len(texts), chunk):
            id_lists = [encoding.ids for encoding in backend.encode_batch_fast(texts[start : start + chunk], add_special_tokens=False)]
            lengths = np.fromiter(map(len, id_lists), dtype=np.int64, count=len(id_lists))
            ids = np.fromiter(itertools.chain.from_iterable(id_lists), dtype=np.int64, count=int(lengths.sum()))
            kept = ~np.isin(ids, added)  # a text that spells out "[SEP]" still gets its id: left out, as in forward
            if not kept.all():
                lengths = np.bincount(np.repeat(np.arange(len(id_lists)), lengths)[kept], minlength=len(id_lists))
                ids = ids[kept]
            offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
            ids, offsets = torch.from_numpy(ids).to(self.device), torch.from_numpy(offsets).to(self.device)
            rows.append(F.embedding_bag(ids, self.embedding.weight, offsets, mode="mean"))
        pooled = torch.cat(rows)  # an empty text: the zero vector, as in forward
        return F.normalize(pooled, dim=-1) if self.normalize else pooled


def added_ids(tokenizer) -> list[int]:
    """The ids a tokenizer puts around every text ([CLS] and [SEP] for BERT; none for model2vec's)."""
    return sorted(set(tokenizer("")["input_ids"]))


def is_static_folder(name_or_path: str) -> bool:
    """Whether ``name_or_path`` is a local sentence-transformers folder whose first module is ``StaticEmbedding``."""
    listing = Path(name_or_path) / "modules.json"
    if not listing.is_file():
        return False
    try:
        first = json.loads(listing.read_text())[0]["type"]
    except (ValueError, LookupError, TypeError) as error:
        raise BertpressError(f"{listing} is not a sentence-transformers module list ({error})") from error
    return isinstance(first, str) and first.rsplit(".", 1)[-1] == _STATIC_MODULE


def save_static(model: StaticEmbedder, tokenizer, folder: str | Path) -> None:
    """``model`` as a sentence-transformers folder: ``StaticEmbedding`` (vectors and tokenizer), then
    ``Normalize`` when the model normalizes."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, StaticEmbedding
    from tokenizers import Tokenizer

    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())  # StaticEmbedding changes its padding
    static = StaticEmbedding(backend, embedding_weights=model.embedding.weight.detach().cpu().clone())
    modules = [static, Normalize()] if model.normalize else [static]
    SentenceTransformer(modules=modules, device="cpu").save(str(folder))


def load_static(folder: str) -> tuple[StaticEmbedder, object]:
    """The static model of a sentence-transformers folder and a tokenizer for it (transformers' API
    over the folder's ``tokenizer.json``; any token pads, as padded positions are masked out)."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize
    from transformers import PreTrainedTokenizerFast

    try:
        loaded = SentenceTransformer(folder, device="cpu")
    except (OSError, ValueError, KeyError) as error:
        raise BertpressError(f"could not load the static model in {folder} ({error})") from error
    static, rest = loaded[0], list(loaded)[1:]
    if any(not isinstance(module, Normalize) for module in rest):
        raise BertpressError(f"{folder}: a static model followed by modules other than Normalize is not supported")
    backend = static.tokenizer
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token=backend.id_to_token(0))
    vectors = static.embedding.weight.detach().clone()
    return StaticEmbedder(vectors, added_ids(tokenizer), normalize=bool(rest)).eval(), tokenizer
