"""SQuAD v1.1's official scoring (evaluate-v1.1.py): exact match and token F1 on normalized answers.

Both compare a prediction with each gold answer after the same normalization and keep the best, so
"the Denver Broncos" matches "Denver Broncos". Scores are in points, 0 to 100, like every bertpress metric.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

from ..errors import BertpressError

_PUNCTUATION = frozenset(string.punctuation)  # ASCII only, as in the official script
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """Lowercase, drop ASCII punctuation, drop the articles a/an/the, collapse whitespace (in that order)."""
    text = "".join(char for char in text.lower() if char not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, gold: str) -> bool:
    """Whether the two answers are equal once normalized."""
    return normalize_answer(prediction) == normalize_answer(gold)


def token_f1(prediction: str, gold: str) -> float:
    """The F1 (0 to 1) of the normalized tokens the two answers share, counted with multiplicity."""
    predicted, expected = normalize_answer(prediction).split(), normalize_answer(gold).split()
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:  # also when either side normalizes to nothing, as in the official script
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def squad_metrics(predictions: Sequence[str], golds: Sequence[Sequence[str]]) -> dict[str, float]:
    """``{"exact_match", "f1"}`` in points: each question's best score over its gold answers, averaged."""
    if len(predictions) != len(golds):
        raise BertpressError(f"got {len(predictions)} predictions for {len(golds)} questions")
    if not golds:
        raise BertpressError("no questions to score")
    exact = f1 = 0.0
    for index, (prediction, answers) in enumerate(zip(predictions, golds)):
        if isinstance(answers, str) or not answers:
            # A bare string would score letter by letter: each question needs a list of its gold answers.
            raise BertpressError(f"question {index} has no list of gold answers (got {answers!r})")
        exact += max(exact_match(prediction, answer) for answer in answers)
        f1 += max(token_f1(prediction, answer) for answer in answers)
    return {"exact_match": 100 * exact / len(golds), "f1": 100 * f1 / len(golds)}
