"""SQuAD v1.1 scoring and entity-level (seqeval) scoring, on examples worked out by hand."""

from __future__ import annotations

import warnings

import pytest

from bertpress.errors import BertpressError
from bertpress.measure.entity_metrics import entity_metrics
from bertpress.measure.squad_metrics import (
    exact_match,
    normalize_answer,
    squad_metrics,
    token_f1,
)


@pytest.mark.parametrize(
    "text, normalized",
    [
        ("The Denver Broncos", "denver broncos"),
        ("  a  cat's\tbed. ", "cats bed"),
        ("An apple, the pear", "apple pear"),
        ("Theatre and Anthem", "theatre and anthem"),  # articles only as whole words
        ("the-end", "theend"),  # punctuation goes before the articles are looked for
        ("24\u201310 (AFC)", "24\u201310 afc"),  # the en dash is not ASCII punctuation: it stays
        ("The", ""),
    ],
)
def test_normalize_answer_follows_the_official_rules(text, normalized):
    assert normalize_answer(text) == normalized


def test_exact_match_compares_normalized_answers():
    assert exact_match("The Denver Broncos", "Denver Broncos")
    assert exact_match("denver broncos!", "Denver  Broncos")
    assert not exact_match("Denver", "Denver Broncos")
    assert exact_match("the", "a")  # both normalize to nothing, as in the official script


def test_token_f1_by_hand():
    # 3 predicted tokens (carolina panthers team), 2 gold, 2 shared: P 2/3, R 1, F1 0.8.
    assert token_f1("the Carolina Panthers team", "Carolina Panthers") == pytest.approx(0.8)
    # Shared tokens count with multiplicity: new york new york vs new york city share 2 of 4 and of 3.
    assert token_f1("new york new york", "New York City") == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert token_f1("Santa Clara", "Levi's Stadium") == 0.0
    assert token_f1("", "Denver") == token_f1("the", "a") == 0.0
    assert token_f1("Denver Broncos", "the Denver Broncos.") == 1.0


def test_squad_metrics_take_the_best_gold_answer_and_average_in_points():
    predictions = ["The Denver Broncos", "the Carolina Panthers team", "Santa Clara"]
    golds = [["Denver Broncos", "Broncos"], ["Carolina Panthers", "Panthers"], ["Levi's Stadium"]]
    # Exact: 1, 0, 0. F1: 1, max(0.8, 0.5), 0.
    assert squad_metrics(predictions, golds) == pytest.approx({"exact_match": 100 / 3, "f1": 60.0})
    assert squad_metrics(("Broncos",), (("Denver Broncos", "Broncos"),)) == {"exact_match": 100.0, "f1": 100.0}


@pytest.mark.parametrize(
    "predictions, golds, message",
    [
        (["a", "b"], [["a"]], "got 2 predictions for 1 questions"),
        ([], [], "no questions to score"),
        (["Denver"], ["Denver"], "question 0 has no list of gold answers (got 'Denver')"),
        (["Denver"], [[]], "question 0 has no list of gold answers (got [])"),
    ],
)
def test_squad_metrics_refuse_mismatched_input(predictions, golds, message):
    with pytest.raises(BertpressError) as raised:
        squad_metrics(predictions, golds)
    assert str(raised.value) == message


GOLD = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O", "B-MISC"]]
PREDICTED = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O", "O"]]


def test_entity_metrics_on_two_sentences_by_hand():
    # Gold entities: PER, LOC, ORG, MISC (4). Predicted: PER, ORG (wrong type), ORG (3). Right: PER, ORG (2).
    # P = 2/3, R = 2/4, F1 = 2PR/(P+R) = 4/7.
    scores = entity_metrics(PREDICTED, GOLD)
    assert scores == pytest.approx({"precision": 200 / 3, "recall": 50.0, "f1": 400 / 7})
    assert entity_metrics(GOLD, GOLD) == {"precision": 100.0, "recall": 100.0, "f1": 100.0}
    # A span must match whole: B-PER O for B-PER I-PER is wrong in precision and in recall.
    assert entity_metrics([["B-PER", "O"]], [["B-PER", "I-PER"]])["f1"] == 0.0


def test_entity_metrics_default_mode_reads_a_stray_i_as_a_start():
    # conlleval: I-PER I-PER is one PER entity, the same span as B-PER I-PER.
    assert entity_metrics([("I-PER", "I-PER")], [("B-PER", "I-PER")])["f1"] == 100.0


def test_entity_metrics_without_entities_are_zero_and_quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert entity_metrics([["O", "O"]], [["O", "O"]]) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}


@pytest.mark.parametrize(
    "predicted, gold, message",
    [
        (PREDICTED[:1], GOLD, "got 1 predicted tag sequences for 2 gold ones"),
        ([["O"], ["B-ORG", "O"]], GOLD, "sentence 0 has 1 predicted tags for 4 gold ones"),
        ([], [], "no sentences to score"),
        (["B-PER O"], [["B-PER", "O"]], "sentence 0: give its tags as a list, not a string"),
    ],
)
def test_entity_metrics_refuse_mismatched_input(predicted, gold, message):
    with pytest.raises(BertpressError) as raised:
        entity_metrics(predicted, gold)
    assert str(raised.value) == message
