"""Reading extractive-QA data: SQuAD v1.1 JSON and JSON lines, answer offsets, and one-line refusals."""

from __future__ import annotations

import json

import pytest

from bertpress.data.squad import FEATURES, read_squad, squad_paragraphs, squad_questions
from bertpress.errors import BertpressError

BOWL = "Super Bowl 50 was won by the Denver Broncos. The Denver Broncos beat the Carolina Panthers."
CITY = "Santa Clara is a city in California."


def _qa(qid: str, question: str, *answers: tuple[str, int]) -> dict:
    return {"id": qid, "question": question, "answers": [{"text": t, "answer_start": s} for t, s in answers]}


def _squad(*paragraphs: dict, title: str = "Super_Bowl_50") -> dict:
    return {"version": "1.1", "data": [{"title": title, "paragraphs": list(paragraphs)}]}


def _write(path, document) -> str:
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return str(path)


def _jsonl(path, *records: dict) -> str:
    return _write(path, "".join(json.dumps(record) + "\n" for record in records))


def _refusal(function, *args, **options) -> str:
    with pytest.raises(BertpressError) as raised:
        function(*args, **options)
    message = str(raised.value)
    assert "\n" not in message
    return message


def test_squad_json_reads_as_the_hub_layout(tmp_path):
    document = _squad(
        {"context": BOWL, "qas": [_qa("q1", "Who won?", ("Denver Broncos", 29), ("the Denver Broncos", 25))]},
        {"context": CITY, "qas": [_qa("q2", "Where is Santa Clara?", ("California", 25))]},
    )
    document["data"].append({"title": "Again", "paragraphs": [{"context": BOWL, "qas": [_qa("q3", "Who lost?")]}]})
    path = _write(tmp_path / "dev.json", document)
    dataset = read_squad(path, require_answers=False)
    assert dataset.features == FEATURES
    assert dataset.to_list() == [
        {
            "id": "q1",
            "question": "Who won?",
            "context": BOWL,
            "answers": {"text": ["Denver Broncos", "the Denver Broncos"], "answer_start": [29, 25]},
        },
        {
            "id": "q2",
            "question": "Where is Santa Clara?",
            "context": CITY,
            "answers": {"text": ["California"], "answer_start": [25]},
        },
        {"id": "q3", "question": "Who lost?", "context": BOWL, "answers": {"text": [], "answer_start": []}},
    ]
    assert squad_paragraphs(path) == [BOWL, CITY]  # distinct, in file order
    assert squad_questions(path) == ["Who won?", "Where is Santa Clara?", "Who lost?"]


def test_an_unanswered_file_still_has_typed_answers(tmp_path):
    path = _write(tmp_path / "test.json", _squad({"context": CITY, "qas": [{"id": "q", "question": "Where?"}]}))
    dataset = read_squad(path, require_answers=False)
    assert dataset.features == FEATURES  # not the null type an empty list would infer
    assert dataset[0]["answers"] == {"text": [], "answer_start": []}


def test_json_lines_take_every_answer_shape(tmp_path):
    path = _jsonl(
        tmp_path / "train.jsonl",
        {
            "id": "a",
            "context": BOWL,
            "question": "Who won?",
            "answers": [{"text": "Denver Broncos", "answer_start": 29}],
        },
        {"context": BOWL, "question": "Who lost?", "answers": {"text": ["Carolina Panthers"], "answer_start": [73]}},
        {"id": 7, "context": BOWL, "question": "Which game?", "answers": ["Super Bowl 50", "Denver Broncos"]},
        {"context": CITY, "question": "Where?", "answers": {"text": ["California"]}},
        {"context": CITY, "question": "What?", "answers": [{"text": "city"}]},
    )
    dataset = read_squad(path)
    assert dataset["id"] == ["a", "2", "7", "4", "5"]  # a missing id is the line number
    assert [row["answers"] for row in dataset] == [
        {"text": ["Denver Broncos"], "answer_start": [29]},
        {"text": ["Carolina Panthers"], "answer_start": [73]},
        {"text": ["Super Bowl 50", "Denver Broncos"], "answer_start": [0, 29]},  # found: the first occurrence
        {"text": ["California"], "answer_start": [25]},
        {"text": ["city"], "answer_start": [17]},
    ]
    for row in dataset:
        for text, start in zip(row["answers"]["text"], row["answers"]["answer_start"]):
            assert row["context"][start : start + len(text)] == text
    assert squad_paragraphs(path) == [BOWL, CITY]
    assert squad_questions(path) == ["Who won?", "Who lost?", "Which game?", "Where?", "What?"]


def test_json_lines_under_a_json_suffix_and_blank_lines(tmp_path):
    record = {"context": CITY, "question": "Where?", "answers": ["California"]}
    many = _write(tmp_path / "many.json", json.dumps(record) + "\n\n" + json.dumps({**record, "question": "Is it?"}))
    assert read_squad(many)["id"] == ["1", "3"]
    one = _write(tmp_path / "one.json", json.dumps(record) + "\n")
    assert read_squad(one)["question"] == ["Where?"]


ANSWERED = {"context": BOWL, "qas": [_qa("q1", "Who won?", ("Denver Broncos", 29))]}


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("bad.json", '{"data": [\n  {"title": }]}', "{path} is not valid JSON (Expecting value at line 2, column 13)"),
        ("bad.jsonl", '{"context": "a", "question": "b"}\n{"context": ', "{path}:2 is not valid JSON (Expecting value"),
        ("empty.json", "  \n", "{path} has no examples"),
        ("nodata.json", '{"version": "1.1"}', "{path} has no 'data': give SQuAD JSON"),
        ("list.json", "[1, 2]", "{path} has no 'data': give SQuAD JSON"),
        ("none.json", json.dumps({"data": []}), "{path} has no examples"),
        ("noqas.json", json.dumps(_squad({"context": BOWL, "qas": []})), "{path} has no examples"),
        (
            "unanswered.json",
            json.dumps(_squad({"context": BOWL, "qas": [_qa("q9", "Who won?")]})),
            "{path}: question 'q9' has no answer; a training or evaluation file needs answers",
        ),
        (
            "unanswered.jsonl",
            json.dumps({"context": BOWL, "question": "Who won?"}),
            "{path}: question '1' has no answer; a training or evaluation file needs answers",
        ),
        (
            "moved.json",
            json.dumps(_squad({"context": BOWL, "qas": [_qa("q1", "Who won?", ("Denver Broncos", 30))]})),
            "{path}: the answer 'Denver Broncos' of question 'q1' is not in its context at answer_start 30; "
            "it first occurs at 29",
        ),
        (
            "absent.json",
            json.dumps(_squad({"context": BOWL, "qas": [_qa("q1", "Who won?", ("Patriots", 0))]})),
            "{path}: the answer 'Patriots' of question 'q1' is not in its context at answer_start 0",
        ),
        (
            "absent.jsonl",
            json.dumps({"id": "x", "context": BOWL, "question": "Who won?", "answers": ["Patriots"]}),
            "{path}: the answer 'Patriots' of question 'x' is not in its context",
        ),
        ("twice.json", json.dumps(_squad(ANSWERED, ANSWERED)), "{path}: question id 'q1' appears twice"),
        (
            "nocontext.json",
            json.dumps(_squad({"qas": []})),
            "{path}: data[0].paragraphs[0] has no 'context'",
        ),
        (
            "intcontext.jsonl",
            json.dumps({"context": 5, "question": "Who?"}),
            "{path}:1: 'context' should be a str, not int",
        ),
        (
            "shape.jsonl",
            json.dumps({"context": BOWL, "question": "Who?", "answers": "Denver"}),
            "{path}:1: the answers of question '1' are not a list of {text, answer_start}",
        ),
        (
            "blank.jsonl",
            json.dumps({"context": BOWL, "question": "Who?", "answers": [""]}),
            "{path}:1: question '1' has an answer that is not a non-empty string",
        ),
    ],
)
def test_bad_files_are_refused_in_one_line(tmp_path, name, text, message):
    path = _write(tmp_path / name, text)
    assert _refusal(read_squad, path).startswith(message.replace("{path}", path))


def test_an_answer_nowhere_in_its_context_names_it(tmp_path):
    path = _jsonl(tmp_path / "a.jsonl", {"id": "x", "context": BOWL, "question": "Who?", "answers": ["Patriots"]})
    assert _refusal(read_squad, path) == f"{path}: the answer 'Patriots' of question 'x' is not in its context"


def test_missing_files_and_empty_helpers(tmp_path):
    missing = tmp_path / "missing.json"
    for function in (read_squad, squad_paragraphs, squad_questions):
        assert _refusal(function, missing) == f"data file not found: {missing}"
    none = _write(tmp_path / "none.json", {"data": [{"title": "t", "paragraphs": []}]})
    assert _refusal(squad_paragraphs, none) == f"{none} has no examples"
    assert _refusal(squad_questions, none) == f"{none} has no examples"
    # Paragraphs without questions are still text for an embedder.
    unasked = _write(tmp_path / "unasked.json", _squad({"context": CITY, "qas": []}))
    assert squad_paragraphs(unasked) == [CITY]
    assert _refusal(squad_questions, unasked) == f"{unasked} has no examples"


@pytest.mark.integration
def test_the_shared_squad_files(shared):
    folder = shared / "data" / "squad"
    for name, size in (("dev-v1.1.json", 10_570), ("train-v1.1.json", 87_599)):
        dataset = read_squad(folder / name)  # no time limit: beside a training run it took 28 s (speed is for benchmarks)
        assert len(dataset) == size and len(set(dataset["id"])) == size
    assert len(squad_questions(folder / "dev-v1.1.json")) == 10_570
    assert len(squad_paragraphs(folder / "dev-v1.1.json")) == 2_067
