"""Static distillation: a sentence embedder becomes one vector per vocabulary token.

1. Each token of the vocabulary goes through the model alone, between the tokens its tokenizer
   puts around every text ([CLS] t [SEP]); the model's own pooling (before any normalisation)
   of that one-token text is the token's vector. Batched, so memory holds one batch of
   activations and the vocabulary x hidden matrix of results.
2. PCA of those vectors (centred, the covariance's leading eigenvectors, signs fixed so that a
   run repeats exactly) keeps ``dims`` dimensions.
3. Each row is weighted by how informative its token is: SIF's weight a / (a + p), with p the
   token's probability, lowers the frequent tokens that say little. With text at hand, p is
   counted on it ("counts"); without, vocabularies are built, and so ordered, roughly by
   frequency, so the rank of a token's id stands in for its frequency rank under Zipf's law
   p(r) ~ 1 / r ("zipf"). Each kind has its own a (``SIF_COEFFICIENTS``), chosen on STS-B's
   training pairs: all-MiniLM-L6-v2's Spearman there is 67.2 / 69.0 / 67.4 for a zipf a of
   1e-4 / 3e-5 / 1e-5, and 71.3 / 70.8 / 69.1 for a counts a (SQuAD-train text) of 1e-3 / 3e-4 / 1e-4.
4. Optionally, the rows are trained on text so that the mean of a text's rows points where the
   original model's embedding of it, projected by the same PCA, points (cosine loss; ``train.loop``).

A text's static embedding is then the mean of its tokens' rows (``models.static_embedder``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from datasets import Dataset
from torch import nn
from tqdm.auto import tqdm

from ..errors import BertpressError
from ..models.static_embedder import StaticEmbedder, added_ids
from ..train.loop import Schedule, make_trainer, train_epoch

WEIGHTINGS = ("counts", "zipf", "none")
# SIF's a for each kind of token probability: a token of probability a keeps half its weight.
SIF_COEFFICIENTS = {"counts": 1e-3, "zipf": 3e-5}


@dataclass(frozen=True)
class StaticSettings:
    dims: int = 256
    weighting: str = "zipf"  # one of WEIGHTINGS ("counts" needs text)
    sif_coefficient: float | None = None  # None: SIF_COEFFICIENTS[weighting]
    token_batch_size: int = 512  # vocabulary tokens per forward pass

    @property
    def coefficient(self) -> float:
        return self.sif_coefficient or SIF_COEFFICIENTS[self.weighting]


@dataclass(frozen=True)
class Projection:
    """The PCA that maps the model's embedding space onto the static vectors' dimensions."""

    mean: torch.Tensor  # (hidden,)
    components: torch.Tensor  # (hidden, dims)

    def __call__(self, vectors: torch.Tensor) -> torch.Tensor:
        return (vectors - self.mean) @ self.components


def vocabulary_ids(tokenizer, name: str) -> list[int]:
    """Every id of the tokenizer's vocabulary; refused in one line when it has none to list."""
    try:
        vocabulary = tokenizer.get_vocab()
    except (AttributeError, NotImplementedError, TypeError):
        vocabulary = None
    if not vocabulary:
        raise BertpressError(f"{name}: its tokenizer has no vocabulary to list (get_vocab), so no token vectors can be made")
    return sorted(set(vocabulary.values()))


def check_static_inputs(model, tokenizer, settings: StaticSettings, name: str) -> None:
    """Refuse, before any slow work, a model and tokenizer that cannot become a static model."""
    ids = vocabulary_ids(tokenizer, name)
    if getattr(tokenizer, "backend_tokenizer", None) is None:
        raise BertpressError(f"{name}: a static model needs a fast (tokenizers) tokenizer, which it lacks")
    if ids[-1] >= model.config.vocab_size:
        raise BertpressError(f"{name}: the tokenizer has id {ids[-1]}, beyond the model's {model.config.vocab_size} embeddings")
    hidden = model.config.hidden_size
    if not 1 <= settings.dims <= min(hidden, len(ids)):
        raise BertpressError(f"static dims must be between 1 and {min(hidden, len(ids))} (the model's width, or its vocabulary if smaller), not {settings.dims}")


def raw_embeddings(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The model's pooled embeddings before any normalisation (the space PCA and training work in)."""
    output = model(**batch)
    return replace(model.pooling, normalize=False)(output.last_hidden_state, batch["attention_mask"])


def token_vectors(model, tokenizer, ids: list[int], batch_size: int, progress: bool) -> torch.Tensor:
    """Row ``i``: the model's raw embedding of the text made of token ``i`` alone (zero for an id
    the vocabulary skips)."""
    before, after = _template(tokenizer)
    vectors = torch.zeros(ids[-1] + 1, model.config.hidden_size)
    with torch.inference_mode():
        for start in tqdm(range(0, len(ids), batch_size), desc="token vectors", disable=not progress):
            chosen = torch.tensor(ids[start : start + batch_size])
            input_ids = torch.cat(
                [torch.tensor(before).expand(len(chosen), -1), chosen[:, None], torch.tensor(after).expand(len(chosen), -1)], 1
            )
            vectors[chosen] = raw_embeddings(model, {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)})
    return vectors


def _template(tokenizer) -> tuple[list[int], list[int]]:
    """The ids the tokenizer puts before and after a text's own (e.g. [CLS] and [SEP])."""
    full, bare = tokenizer("a")["input_ids"], tokenizer("a", add_special_tokens=False)["input_ids"]
    for start in range(len(full) - len(bare) + 1):
        if full[start : start + len(bare)] == bare:
            return full[:start], full[start + len(bare) :]
    raise BertpressError("the tokenizer's special tokens do not surround a text; a static model cannot be made from it")


def fit_pca(vectors: torch.Tensor, dims: int) -> Projection:
    """The ``dims`` leading principal directions of ``vectors``' rows, each signed so that its
    largest coordinate is positive (eigenvectors are defined up to sign)."""
    data = vectors.double()
    mean = data.mean(0)
    centred = data - mean
    _, eigenvectors = torch.linalg.eigh(centred.T @ centred)  # ascending eigenvalues
    components = eigenvectors.flip(1)[:, :dims]
    largest = components.gather(0, components.abs().argmax(0, keepdim=True))
    return Projection(mean.float(), (components * largest.sign()).float())


def token_weights(count: int, settings: StaticSettings, probabilities: torch.Tensor | None = None) -> torch.Tensor:
    """One weight per id: SIF's a / (a + p), p the id's probability (``probabilities``, counted on
    text, or Zipf's by the id's rank), or ones."""
    if settings.weighting == "none":
        return torch.ones(count)
    if probabilities is None:
        ranks = torch.arange(1, count + 1, dtype=torch.float64)
        probabilities = 1 / (ranks * (1 / ranks).sum())
    return (settings.coefficient / (settings.coefficient + probabilities)).float()


def token_probabilities(tokenizer, texts: list[str], count: int, chunk: int = 1000) -> torch.Tensor:
    """How often each of ``count`` ids occurs among the tokens of ``texts`` (no special tokens)."""
    counts = torch.zeros(count, dtype=torch.float64)
    for start in range(0, len(texts), chunk):  # a chunk's ids at a time: memory stays flat
        ids = tokenizer(texts[start : start + chunk], add_special_tokens=False, verbose=False)["input_ids"]
        counts += torch.bincount(torch.tensor([i for row in ids for i in row], dtype=torch.long), minlength=count)[:count]
    if not counts.sum():
        raise BertpressError("the text has no tokens to count")
    return counts / counts.sum()


def distill_static(
    model, tokenizer, settings: StaticSettings, texts: list[str] | None = None, *, progress: bool = True
) -> tuple[StaticEmbedder, Projection]:
    """The static model of the sentence embedder ``model`` (PCA-reduced, weighted token vectors;
    "counts" weights read ``texts``), normalising as ``model`` does; and the PCA, which training
    projects the targets with."""
    model.eval()
    ids = vocabulary_ids(tokenizer, "the model")
    vectors = token_vectors(model, tokenizer, ids, settings.token_batch_size, progress)
    projection = fit_pca(vectors[ids], settings.dims)
    in_vocabulary = torch.zeros(len(vectors), 1)
    in_vocabulary[ids] = 1  # an id the vocabulary skips never occurs: its row stays zero
    probabilities = token_probabilities(tokenizer, texts, len(vectors)) if settings.weighting == "counts" else None
    rows = projection(vectors) * token_weights(len(vectors), settings, probabilities)[:, None] * in_vocabulary
    return StaticEmbedder(rows, added_ids(tokenizer), normalize=model.pooling.normalize), projection


class _CosineToTargets(nn.Module):
    """The training module: one minus the cosine between a batch's static and target embeddings."""

    def __init__(self, student: StaticEmbedder):
        super().__init__()
        self.student = student

    def forward(self, input_ids, attention_mask, targets) -> torch.Tensor:
        mine = self.student(input_ids, attention_mask).sentence_embedding
        return (1 - F.cosine_similarity(mine, targets)).mean()


def targets_dataset(model, tokenizer, texts: list[str], projection: Projection, max_length: int, progress: bool) -> Dataset:
    """Each text's tokens and the PCA projection of the original model's raw embedding of it."""
    encoded = tokenizer(texts, truncation=True, max_length=max_length)
    targets = []
    with torch.inference_mode():
        for start in tqdm(range(0, len(texts), 64), desc="target embeddings", disable=not progress):
            rows = [{"input_ids": ids} for ids in encoded["input_ids"][start : start + 64]]
            batch = tokenizer.pad(rows, return_tensors="pt")
            inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
            targets.append(projection(raw_embeddings(model, inputs)))
    return Dataset.from_dict({"input_ids": encoded["input_ids"], "targets": torch.cat(targets).tolist()})


def train_static(student: StaticEmbedder, dataset: Dataset, tokenizer, schedule: Schedule, progress: bool) -> list[dict]:
    """Train ``student``'s rows towards the targets for ``schedule.epochs``; the loss per epoch."""
    trainer = make_trainer(_CosineToTargets(student), schedule, len(dataset))

    def collate(rows: list[dict]) -> dict[str, torch.Tensor]:
        batch = tokenizer.pad([{"input_ids": row["input_ids"]} for row in rows], return_tensors="pt")
        return {**batch, "targets": torch.tensor([row["targets"] for row in rows])}

    def compute_loss(module, batch):
        return module(batch["input_ids"], batch["attention_mask"], batch["targets"]), {}

    curve = []
    for epoch in range(1, schedule.epochs + 1):
        losses = train_epoch(trainer, dataset, collate, schedule, epoch, compute_loss, progress=progress)
        curve.append({"epoch": epoch, **losses})
    student.eval()
    return curve
