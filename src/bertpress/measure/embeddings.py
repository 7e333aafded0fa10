"""What users of sentence embeddings read: STS-B Spearman of cosine similarity (no training),
retrieval of SQuAD paragraphs by their questions, and agreement with a reference model.

A model here is anything whose output has ``sentence_embedding`` (a ``SentenceEmbedder`` or an
exported one run by ONNX Runtime). All scores are in points (x100), agreement included.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import pearsonr, spearmanr
from tqdm.auto import tqdm

from ..data.sources import DataSource, load_split
from ..data.squad import retrieval_set
from ..data.tasks import RETRIEVAL_TASK, get_task
from ..errors import BertpressError
from ..memory import varying_shapes
from .evaluate import EvalReport


def embed(
    model, tokenizer, texts: list[str], *, batch_size: int = 64, max_length: int = 128, progress: bool = True,
    desc: str = "embedding",
) -> torch.Tensor:
    """One embedding per text, in order (batches sorted by length for less padding; a static model,
    which has ``embed_texts``, takes the texts whole and pads nothing, given a Rust-backed tokenizer)."""
    texts = list(texts)
    if not texts:
        raise BertpressError("no texts to embed")
    embed_texts = getattr(model, "embed_texts", None) if getattr(tokenizer, "is_fast", False) else None
    embeddings = (embed_texts(tokenizer, texts, max_length) if embed_texts is not None
                  else _embed_batches(model, tokenizer, texts, batch_size, max_length, progress, desc))
    if not torch.isfinite(embeddings).all():
        raise BertpressError("the model's embeddings are not finite (NaN or inf)")
    return embeddings


def _embed_batches(model, tokenizer, texts: list[str], batch_size: int, max_length: int, progress: bool, desc: str) -> torch.Tensor:
    encoded = tokenizer(texts, truncation=True, max_length=max_length)  # once; each batch is only padded
    order = np.argsort([len(ids) for ids in encoded["input_ids"]], kind="stable")
    device = getattr(model, "device", torch.device("cpu"))
    rows = []
    with torch.inference_mode():
        for start in tqdm(range(0, len(texts), batch_size), desc=desc, disable=not progress):
            chosen = [{name: values[i] for name, values in encoded.items()} for i in order[start : start + batch_size]]
            batch = tokenizer.pad(chosen, return_tensors="pt")
            output = model(**{name: value.to(device) for name, value in batch.items()})
            rows.append(torch.as_tensor(output.sentence_embedding).float().cpu())
    embeddings = torch.empty(len(texts), rows[0].shape[-1])
    embeddings[torch.from_numpy(order)] = torch.cat(rows)
    return embeddings


@varying_shapes()  # scoring: batches of many lengths (bertpress.memory); ``embed`` alone, which times, keeps the defaults
def sts_similarity(model, tokenizer, data: DataSource, *, max_length: int = 128, progress: bool = True) -> EvalReport:
    """Spearman and Pearson (x100) of the cosine similarity of STS-B dev pairs against the gold scores."""
    dev = load_split(get_task("stsb"), "dev", data)
    first = embed(model, tokenizer, dev["text_a"], max_length=max_length, progress=progress, desc="embedding stsb dev")
    second = embed(model, tokenizer, dev["text_b"], max_length=max_length, progress=progress, desc="embedding stsb dev")
    cosine = F.cosine_similarity(first, second).numpy()
    gold = np.asarray(dev["label"], dtype=np.float64)
    metrics = {"spearman": 100 * spearmanr(cosine, gold).statistic, "pearson": 100 * pearsonr(cosine, gold).statistic}
    return EvalReport("stsb", "dev", len(dev), {name: round(float(value), 4) for name, value in metrics.items()})


@varying_shapes()
def squad_retrieval(
    model, tokenizer, path: str | Path, *, max_questions: int | None = None, max_length: int = 256,
    progress: bool = True, seed: int = 0,
) -> EvalReport:
    """Each question against every paragraph by cosine similarity: recall@1, recall@10, MRR@10 and
    NDCG@10 (x100; one relevant paragraph per question). ``max_questions`` scores a seeded subset
    of the questions against all paragraphs."""
    paragraphs, questions, gold = retrieval_set(path)
    if max_questions is not None and max_questions < len(questions):
        chosen = np.sort(np.random.default_rng(seed).choice(len(questions), max_questions, replace=False))
        questions, gold = [questions[i] for i in chosen], [gold[i] for i in chosen]
    documents = F.normalize(
        embed(model, tokenizer, paragraphs, max_length=max_length, progress=progress, desc="embedding paragraphs"), dim=-1
    )
    queries = F.normalize(
        embed(model, tokenizer, questions, max_length=max_length, progress=progress, desc="embedding questions"), dim=-1
    )
    ranks = _gold_ranks(queries, documents, torch.tensor(gold))
    return EvalReport(RETRIEVAL_TASK, "dev", len(questions), retrieval_metrics(ranks))


def _gold_ranks(queries: torch.Tensor, documents: torch.Tensor, gold: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    """The 1-based rank of each query's gold document (ties counted against it); in chunks, so
    memory stays at ``chunk`` x documents."""
    ranks = []
    for start in range(0, len(queries), chunk):
        scores = queries[start : start + chunk] @ documents.T
        target = scores.gather(1, gold[start : start + chunk, None])
        ranks.append((scores > target).sum(1) + 1)
    return torch.cat(ranks)


def retrieval_metrics(ranks: torch.Tensor) -> dict[str, float]:
    ranks = ranks.double()
    top10 = ranks <= 10
    metrics = {
        "recall@1": (ranks == 1).double().mean(),
        "recall@10": top10.double().mean(),
        "mrr@10": torch.where(top10, 1 / ranks, 0).mean(),
        "ndcg@10": torch.where(top10, 1 / torch.log2(ranks + 1), 0).mean(),  # one relevant document: IDCG = 1
    }
    return {name: round(100 * float(value), 4) for name, value in metrics.items()}


def agreement(embeddings: torch.Tensor, reference: torch.Tensor) -> float:
    """Mean cosine similarity between each text's embedding and the reference model's, in points (100: the same).

    Embeddings of another width (a static model's PCA dimensions) cannot be compared directly:
    each text's cosine similarities to all the texts are compared instead, the same structure in any space.
    """
    if embeddings.shape[-1] != reference.shape[-1]:
        embeddings, reference = _similarities(embeddings), _similarities(reference)
    return round(100 * float(F.cosine_similarity(embeddings, reference).mean()), 4)


def _similarities(embeddings: torch.Tensor) -> torch.Tensor:
    unit = F.normalize(embeddings, dim=-1)
    return unit @ unit.T
