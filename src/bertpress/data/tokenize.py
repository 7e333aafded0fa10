"""Tokenizing examples once, then cutting them into dynamically padded batches.

Three shapes of example, told apart by their columns: sentences (``text_a`` [, ``text_b``],
``label``), questions on a context (``question``, ``context``, ``answers``: cut into overlapping
windows, each token carrying its characters in the context) and tagged words (``tokens``, ``tags``:
a label on each word's first sub-token). Labels a position does not carry are ``IGNORED``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from datasets import Dataset
from transformers import DataCollatorWithPadding

from ..errors import BertpressError, first_line
from .sampling import GROUP
from .tasks import DOC_STRIDE

IGNORED = -100  # a label no loss reads (cross-entropy's ignore_index): padding, a word's later sub-tokens
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def encode(
    dataset: Dataset, tokenizer, max_length: int = 128, *, stride: int = DOC_STRIDE, label_names: Sequence[str] = ()
) -> Dataset:
    """Model inputs and ``labels``, unpadded, for any shape of example.

    ``stride``: the tokens two windows of a long context share. ``label_names``: the model's tags
    in index order, for tagged words.
    """
    if "context" in dataset.column_names:
        return encode_windows(dataset, tokenizer, max_length, stride)
    if "tokens" in dataset.column_names:
        return encode_words(dataset, tokenizer, max_length, label_names)
    return encode_sentences(dataset, tokenizer, max_length)


def encode_sentences(dataset: Dataset, tokenizer, max_length: int) -> Dataset:
    """A sentence pair is truncated ``longest_first``: the longer text loses tokens first."""
    pair = "text_b" in dataset.column_names

    def tokenize(examples: dict) -> dict:
        second = examples["text_b"] if pair else None
        return tokenizer(examples["text_a"], second, truncation="longest_first", max_length=max_length)

    texts = [name for name in dataset.column_names if name not in ("label", GROUP)]
    encoded = dataset.map(tokenize, batched=True, remove_columns=texts, desc="tokenizing")
    return encoded.rename_column("label", "labels")


def encode_windows(dataset: Dataset, tokenizer, max_length: int, stride: int) -> Dataset:
    """Each question with its context, as many windows of ``max_length`` tokens as the context
    needs (consecutive ones share ``stride`` tokens): never truncated. Each window keeps
    ``example_index`` (its question's row), ``offset_mapping`` (each token's characters in the
    context, None outside it) and ``labels``: the answer's first and last token, or the first
    token ([CLS]) twice where the window does not hold the whole answer."""
    _require_fast(tokenizer, "question answering")

    def tokenize(examples: dict, indices: list[int]) -> dict:
        questions = [question.lstrip() for question in examples["question"]]
        _require_room(tokenizer, questions, indices, max_length, stride)
        windows = tokenizer(
            questions, examples["context"], truncation="only_second", max_length=max_length, stride=stride,
            return_overflowing_tokens=True, return_offsets_mapping=True,
        )
        rows = windows.pop("overflow_to_sample_mapping")
        offsets = [
            [span if part == 1 else None for span, part in zip(spans, windows.sequence_ids(window))]
            for window, spans in enumerate(windows["offset_mapping"])
        ]
        answers = examples["answers"]
        return {
            **windows,
            "offset_mapping": offsets,
            "example_index": [indices[row] for row in rows],
            "labels": [answer_positions(answers[row], spans) for row, spans in zip(rows, offsets)],
        }

    return dataset.map(
        tokenize, batched=True, with_indices=True, remove_columns=dataset.column_names, desc="cutting contexts into windows"
    )


def _require_room(tokenizer, questions: list[str], indices: list[int], max_length: int, stride: int) -> None:
    """Refuse a question that leaves a window no more context tokens than the stride (the
    tokenizers library would abort the process rather than raise)."""
    specials = tokenizer.num_special_tokens_to_add(pair=True)
    for row, ids in zip(indices, tokenizer(questions, add_special_tokens=False)["input_ids"]):
        if len(ids) + specials + stride >= max_length:
            raise BertpressError(
                f"question {row} has {len(ids)} tokens: windows of --max-length {max_length} with --doc-stride "
                f"{stride} leave no room for its context; raise --max-length or lower --doc-stride"
            )


def answer_positions(answers: dict, offsets: Sequence) -> list[int]:
    """The first answer's first and last token in a window, [0, 0] where the window does not hold
    all of it, ``IGNORED`` twice for a question without an answer."""
    if not answers["text"]:
        return [IGNORED, IGNORED]
    first_char = answers["answer_start"][0]
    end_char = first_char + len(answers["text"][0])
    inside = [position for position, span in enumerate(offsets) if span is not None]
    if not inside or offsets[inside[0]][0] > first_char or offsets[inside[-1]][1] < end_char:
        return [0, 0]
    start = max(position for position in inside if offsets[position][0] <= first_char)
    end = min(position for position in inside if offsets[position][1] >= end_char)
    return [start, end]


def encode_words(dataset: Dataset, tokenizer, max_length: int, label_names: Sequence[str]) -> Dataset:
    """Each sentence's words as sub-tokens; ``labels`` on each word's first sub-token (the tag's
    index in ``label_names``), ``IGNORED`` elsewhere; ``word_ids`` maps tokens back to words."""
    _require_fast(tokenizer, "token classification")
    index = {name: position for position, name in enumerate(label_names)}
    unknown = sorted({tag for tags in dataset["tags"] for tag in tags} - index.keys())
    if unknown:
        raise BertpressError(f"tag '{unknown[0]}' is not one of the model's labels ({', '.join(label_names)})")

    def tokenize(examples: dict) -> dict:
        try:
            encoded = tokenizer(examples["tokens"], is_split_into_words=True, truncation=True, max_length=max_length)
        except Exception as error:  # e.g. a byte-level BPE tokenizer built without add_prefix_space
            raise BertpressError(f"could not tokenize words: {first_line(error)}") from error
        word_ids = [encoded.word_ids(row) for row in range(len(examples["tokens"]))]
        labels = [
            [index[tags[word]] if is_first_subtoken(words, position) else IGNORED for position, word in enumerate(words)]
            for words, tags in zip(word_ids, examples["tags"])
        ]
        return {**encoded, "word_ids": word_ids, "labels": labels}

    return dataset.map(tokenize, batched=True, remove_columns=dataset.column_names, desc="tokenizing words")


def is_first_subtoken(word_ids: Sequence[int | None], position: int) -> bool:
    """Whether the token at ``position`` starts a word (not a special token, not a continuation)."""
    word = word_ids[position]
    return word is not None and (position == 0 or word_ids[position - 1] != word)


def _require_fast(tokenizer, what: str) -> None:
    if not getattr(tokenizer, "is_fast", False):
        raise BertpressError(f"{what} needs a fast tokenizer (character offsets and word ids); this model's is a slow one")


def batches(encoded: Dataset, tokenizer, batch_size: int, **options) -> list[dict[str, torch.Tensor]]:
    """All of ``iter_batches`` at once; the same options (``shuffle``, ``seed``, ``sort_by_length``)."""
    return list(iter_batches(encoded, tokenizer, batch_size, **options))


def iter_batches(encoded: Dataset, tokenizer, batch_size: int, **options) -> Iterator[dict[str, torch.Tensor]]:
    """Batches padded to their own longest example (see ``chunks`` for the options). One at a time,
    so a long epoch never holds all of its padded tensors."""
    collate = collator(tokenizer)
    for chunk in chunks(encoded, batch_size, **options):
        yield collate(rows(encoded[chunk.tolist()]))


def chunks(
    encoded: Dataset, batch_size: int, *, shuffle: bool = False, seed: int = 0, sort_by_length: bool = False
) -> list[np.ndarray]:
    """The row numbers of each batch. ``sort_by_length`` puts examples of similar length together
    (less padding, faster); with ``shuffle`` too, the batches themselves come in a seeded random order."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(encoded)) if shuffle else np.arange(len(encoded))
    if sort_by_length:
        lengths = np.fromiter((len(ids) for ids in encoded["input_ids"]), dtype=np.int64, count=len(encoded))
        order = order[np.argsort(lengths[order], kind="stable")]
    pieces = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    if shuffle and sort_by_length:
        rng.shuffle(pieces)
    return pieces


def collator(tokenizer) -> Callable[[list[dict]], dict[str, torch.Tensor]]:
    """Rows to a padded batch of model inputs and ``labels``; anything else a row holds (windows'
    offsets, word ids) stays behind. Per-token labels are padded with ``IGNORED``."""
    pad = DataCollatorWithPadding(tokenizer, return_tensors="pt")

    def collate(batch_rows: list[dict]) -> dict[str, torch.Tensor]:
        batch = pad([{name: row[name] for name in MODEL_INPUTS if name in row} for row in batch_rows])
        if "labels" in batch_rows[0]:
            batch["labels"] = _labels([row["labels"] for row in batch_rows], batch_rows, batch["input_ids"].shape[1])
        return batch

    return collate


def _labels(labels: list, batch_rows: list[dict], width: int) -> torch.Tensor:
    per_token = isinstance(labels[0], list) and len(labels[0]) == len(batch_rows[0]["input_ids"])
    if not per_token:
        return torch.tensor(labels)
    padded = torch.full((len(labels), width), IGNORED, dtype=torch.long)
    for row, values in enumerate(labels):
        padded[row, : len(values)] = torch.tensor(values, dtype=torch.long)
    return padded


def rows(columns: dict[str, list]) -> list[dict]:
    """``{"a": [1, 2], "b": [3, 4]}`` -> ``[{"a": 1, "b": 3}, {"a": 2, "b": 4}]``."""
    return [dict(zip(columns, values)) for values in zip(*columns.values())]


def mean_length(batches: list[dict[str, torch.Tensor]]) -> float:
    """Mean tokenized length of the examples in ``batches`` (the s of the MACs formulas)."""
    lengths = torch.cat([batch["attention_mask"].sum(1) for batch in batches])
    return float(lengths.float().mean())
