"""The task registry: the nine GLUE tasks, SQuAD and CoNLL-2003, their label orders (Hugging Face's) and their splits."""

from __future__ import annotations

import pytest

from bertpress.data.tasks import TASKS, get_task
from bertpress.errors import BertpressError


def test_the_tasks_and_their_official_metrics():
    assert {name: (task.num_labels, task.main_metric, task.metrics) for name, task in TASKS.items()} == {
        "cola": (2, "matthews_correlation", ("matthews_correlation",)),
        "sst2": (2, "accuracy", ("accuracy",)),
        "mrpc": (2, "accuracy", ("accuracy", "f1")),
        "qqp": (2, "accuracy", ("accuracy", "f1")),
        "stsb": (1, "spearman", ("pearson", "spearman")),
        "mnli": (3, "accuracy", ("accuracy",)),
        "qnli": (2, "accuracy", ("accuracy",)),
        "rte": (2, "accuracy", ("accuracy",)),
        "wnli": (2, "accuracy", ("accuracy",)),
        "squad": (2, "f1", ("exact_match", "f1")),
        "conll2003": (9, "f1", ("precision", "recall", "f1")),
    }


def test_span_and_token_tasks_name_their_heads_lengths_and_splits():
    squad, conll = get_task("squad"), get_task("conll2003")
    assert (squad.task_head, squad.max_length, squad.priced_at_max_length) == ("span_qa", 384, True)
    assert (conll.task_head, conll.max_length, conll.splits) == ("token_classification", 128, ("train", "dev", "test"))
    assert conll.label_names[0] == "O" and len(set(conll.label_names)) == 9
    assert dict(conll.split_files) == {"train": "eng.train", "dev": "eng.testa", "test": "eng.testb"}


@pytest.mark.parametrize(
    ("name", "label_names"),
    [
        ("mrpc", ("not_equivalent", "equivalent")),
        ("rte", ("entailment", "not_entailment")),
        ("qnli", ("entailment", "not_entailment")),
        ("mnli", ("entailment", "neutral", "contradiction")),
        ("wnli", ("not_entailment", "entailment")),
        ("cola", ("unacceptable", "acceptable")),
        ("qqp", ("not_duplicate", "duplicate")),
        ("stsb", ()),
    ],
)
def test_label_orders_match_hugging_face_glue(name, label_names):
    assert get_task(name).label_names == label_names


def test_regression_is_stsb_alone():
    assert [name for name, task in TASKS.items() if task.is_regression] == ["stsb"]
    assert get_task("stsb").problem_type == "regression"
    assert get_task("rte").problem_type == "single_label_classification"


def test_splits_and_the_mnli_dev_alias():
    mnli = get_task("mnli")
    assert mnli.resolve_split("dev") == "dev_matched"
    assert mnli.resolve_split("dev_mismatched") == "dev_mismatched"
    assert get_task("rte").resolve_split("dev") == "dev"
    with pytest.raises(BertpressError, match="task 'rte' has no split 'dev_matched' \\(known: train, dev\\)"):
        get_task("rte").resolve_split("dev_matched")


def test_unknown_task_names_the_known_ones():
    assert get_task("MRPC") is TASKS["mrpc"]
    with pytest.raises(BertpressError, match="unknown task 'squad2' \\(known: cola, sst2, mrpc"):
        get_task("squad2")
