"""Metrics from logits, against values computed by hand."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from bertpress.data.tasks import TASKS, get_task
from bertpress.measure.metrics import compute_metrics


def _logits_for(predicted: list[int], num_labels: int = 2) -> np.ndarray:
    return np.eye(num_labels, dtype=np.float32)[predicted] * 3.0 - 1.0


# predictions 1 0 1 1 against labels 1 0 0 1: tp 2, tn 1, fp 1, fn 0.
PREDICTED, LABELS = [1, 0, 1, 1], np.array([1, 0, 0, 1])


def test_accuracy_and_f1():
    metrics = compute_metrics(get_task("mrpc"), _logits_for(PREDICTED), LABELS)
    # f1 = 2 tp / (2 tp + fp + fn) = 4 / 5
    assert metrics == pytest.approx({"accuracy": 75.0, "f1": 80.0})


def test_matthews_correlation():
    metrics = compute_metrics(get_task("cola"), _logits_for(PREDICTED), LABELS)
    # (tp tn - fp fn) / sqrt((tp+fp)(tp+fn)(tn+fp)(tn+fn)) = 2 / sqrt(3 * 2 * 2 * 1)
    assert metrics == pytest.approx({"matthews_correlation": 200 / math.sqrt(12)})


def test_three_classes():
    metrics = compute_metrics(get_task("mnli"), _logits_for([0, 1, 2, 2, 1], 3), np.array([0, 1, 2, 0, 0]))
    assert metrics == pytest.approx({"accuracy": 60.0})


def test_pearson_and_spearman_from_a_single_output():
    scores = np.array([[1.0], [2.0], [3.0], [5.0]])
    metrics = compute_metrics(get_task("stsb"), scores, np.array([1.0, 2.0, 3.0, 4.0]))
    # deviations (-1.5 -0.5 0.5 1.5) and (-1.75 -0.75 0.25 2.25): r = 6.5 / sqrt(5 * 8.75); the ranks agree.
    assert metrics == pytest.approx({"pearson": 650 / math.sqrt(43.75), "spearman": 100.0})


def test_constant_predictions_score_zero_quietly():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        metrics = compute_metrics(get_task("stsb"), np.ones((4, 1)), np.array([1.0, 2.0, 3.0, 4.0]))
    assert metrics == {"pearson": 0.0, "spearman": 0.0}


@pytest.mark.parametrize("name", sorted(name for name, task in TASKS.items() if task.task_head == "sequence_classification"))
def test_every_sentence_task_reports_its_main_metric_as_plain_floats(name):
    task = TASKS[name]
    logits = np.random.default_rng(0).normal(size=(6, task.num_labels))
    labels = logits[:, 0] if task.is_regression else np.array([0, 1, 0, 1, 1, 0])
    metrics = compute_metrics(task, logits, labels)
    assert list(metrics) == list(task.metrics) and task.main_metric in metrics
    assert all(type(value) is float for value in metrics.values())
