"""Task metrics: the official GLUE ones (from logits, with scikit-learn and scipy), SQuAD's exact
match and F1 (``squad_metrics``), CoNLL's entity-level precision, recall and F1 (``entity_metrics``).

Every metric bertpress reports is in points, 0 to 100 (correlations -100 to 100): accuracy 86.0,
not 0.86, the scale of the embedders' and retrieval metrics and of published tables."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
from scipy.stats import ConstantInputWarning, pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

from ..data.tasks import Task
from .entity_metrics import entity_metrics
from .squad_metrics import squad_metrics


def _correlation(statistic: Callable) -> Callable[[np.ndarray, np.ndarray], float]:
    def score(labels: np.ndarray, predictions: np.ndarray) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConstantInputWarning)
            value = float(statistic(labels, predictions)[0])
        # Constant predictions carry no information: score them 0, as Matthews correlation does,
        # rather than NaN (which is not valid JSON).
        return 0.0 if math.isnan(value) else value

    return score


# name -> metric(labels, predictions); predictions are class indices, or scores for regression.
METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "accuracy": accuracy_score,
    "f1": f1_score,  # binary, the positive class is 1 (MRPC "equivalent", QQP "duplicate")
    "matthews_correlation": matthews_corrcoef,
    "pearson": _correlation(pearsonr),
    "spearman": _correlation(spearmanr),
}


def predictions(task: Task, logits: np.ndarray) -> np.ndarray:
    """The predicted class of each example, or its predicted score for a regression task."""
    logits = np.asarray(logits)
    if task.is_regression:
        return logits.reshape(len(logits))
    return logits.argmax(axis=-1)


def sentence_metrics(task: Task, logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """``{metric: value}`` for each of a GLUE task's metrics, in points (accuracy 86.0, not 0.86)."""
    predicted = predictions(task, logits)
    labels = np.asarray(labels)
    return {name: 100 * float(METRICS[name](labels, predicted)) for name in task.metrics}


# How each task head's decoded predictions are scored: (task, predictions, references) -> metrics.
_SCORERS: dict[str, Callable[..., dict[str, float]]] = {
    "sequence_classification": sentence_metrics,
    "span_qa": lambda task, answers, golds: squad_metrics(answers, golds),
    "token_classification": lambda task, tags, golds: entity_metrics(tags, golds),
}


def compute_metrics(task: Task, predictions, references) -> dict[str, float]:
    """The task's metrics, in points, from what its task head's ``decode`` returned."""
    return _SCORERS[task.task_head](task, predictions, references)
