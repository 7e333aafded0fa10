"""Reading extractive-QA data: SQuAD v1.1 JSON or JSON lines, in the Hugging Face ``squad`` layout.

Every reader returns ``id``, ``question``, ``context`` and ``answers`` (``{"text": [...],
"answer_start": [...]}``), with each answer checked against its context here, so that a wrong
offset is one clear error now rather than a silently wrong training label later.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from datasets import Dataset, Features, List, Value

from ..errors import BertpressError

FEATURES = Features(
    {
        "id": Value("string"),
        "question": Value("string"),
        "context": Value("string"),
        "answers": {"text": List(Value("string")), "answer_start": List(Value("int32"))},
    }
)

# Suffixes that always mean one JSON object a line (a ``.json`` file may hold either layout).
_JSON_LINES = (".jsonl", ".ndjson", ".jsonlines")

_ANSWER_SHAPES = "a list of {text, answer_start}, a {text: [...], answer_start: [...]} dict, or a list of strings"


@dataclass(frozen=True)
class _Question:
    id: str
    question: str
    answers: Any  # as written in the file; checked only by read_squad
    where: str  # "<path>:<line>" or "<path>: data[i].paragraphs[j].qas[k]", for error messages


@dataclass(frozen=True)
class _Paragraph:
    context: str
    questions: list[_Question]


def read_squad(path: str | Path, *, require_answers: bool = True) -> Dataset:
    """The questions of a SQuAD JSON or JSON-lines file, each answer checked against its context.

    ``require_answers`` refuses unanswered questions (SQuAD v2's impossible ones, or a file without
    answers): training and evaluation both need them; prediction alone does not."""
    path = Path(path)
    rows: dict[str, list] = {name: [] for name in FEATURES}
    seen: set[str] = set()
    for paragraph in _paragraphs(path):
        for question in paragraph.questions:
            if question.id in seen:
                raise BertpressError(f"{path}: question id '{question.id}' appears twice")
            seen.add(question.id)
            answers = _answers(path, question, paragraph.context)
            if require_answers and not answers["text"]:
                raise BertpressError(
                    f"{path}: question '{question.id}' has no answer; a training or evaluation file needs answers"
                )
            rows["id"].append(question.id)
            rows["question"].append(question.question)
            rows["context"].append(paragraph.context)
            rows["answers"].append(answers)
    if not rows["id"]:
        raise BertpressError(f"{path} has no examples")
    # Arrow arrays, not lists: from_dict would otherwise encode every answers dict in Python (seconds).
    schema = FEATURES.arrow_schema
    columns = {name: pa.array(values, type=schema.field(name).type) for name, values in rows.items()}
    return Dataset.from_dict(columns, features=FEATURES)


def squad_paragraphs(path: str | Path) -> list[str]:
    """The distinct contexts of a SQuAD file in file order (embedder text: no answers are checked)."""
    path = Path(path)
    contexts = list(dict.fromkeys(paragraph.context for paragraph in _paragraphs(path)))
    if not contexts:
        raise BertpressError(f"{path} has no examples")
    return contexts


def squad_questions(path: str | Path) -> list[str]:
    """The questions of a SQuAD file in file order (embedder text: no answers are checked)."""
    path = Path(path)
    questions = [question.question for paragraph in _paragraphs(path) for question in paragraph.questions]
    if not questions:
        raise BertpressError(f"{path} has no examples")
    return questions


def is_squad_document(path: str | Path) -> bool:
    """Whether ``path`` is a SQuAD-format JSON document (``{"data": [...]}``), rather than a table
    of records or JSON lines."""
    return _squad_document(str(path), *_stamp(Path(path)))


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


@functools.lru_cache(maxsize=4)
def _squad_document(path: str, _mtime_ns: int, _size: int) -> bool:
    """Parsed once per version of the file: the command line and the workload both ask."""
    if Path(path).suffix.lower() != ".json":
        return False
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False  # not one JSON document: its reader says what is wrong
    return isinstance(document, dict) and "data" in document


def squad_texts(path: str | Path) -> list[str]:
    """Embedder text from a SQuAD file: its distinct paragraphs, then its questions (passages and
    the queries that retrieve them; no answers are checked)."""
    path = Path(path)
    paragraphs = _paragraphs(path)
    if not paragraphs:
        raise BertpressError(f"{path} is a SQuAD file with no paragraphs")
    contexts = list(dict.fromkeys(paragraph.context for paragraph in paragraphs))
    return contexts + [question.question for paragraph in paragraphs for question in paragraph.questions]


def squad_pairs(path: str | Path) -> list[tuple[str, str]]:
    """Each question of a SQuAD file with its paragraph, in file order: the query–passage pairs
    an in-batch objective compares (no answers are checked)."""
    path = Path(path)
    pairs = [(question.question, paragraph.context) for paragraph in _paragraphs(path) for question in paragraph.questions]
    if not pairs:
        raise BertpressError(f"{path} is a SQuAD file with no questions")
    return pairs


def retrieval_set(path: str | Path) -> tuple[list[str], list[str], list[int]]:
    """Paragraph retrieval by question: every paragraph (in file order), every question, and the
    index of each question's own paragraph (no answers are checked)."""
    path = Path(path)
    paragraphs, questions, gold = [], [], []
    for paragraph in _paragraphs(path):
        questions += [question.question for question in paragraph.questions]
        gold += [len(paragraphs)] * len(paragraph.questions)
        paragraphs.append(paragraph.context)
    if not questions:
        raise BertpressError(f"{path} has no examples")
    return paragraphs, questions, gold


def _paragraphs(path: Path) -> list[_Paragraph]:
    """The file's paragraphs with their questions, whichever layout it is in."""
    if not path.is_file():
        raise BertpressError(f"data file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise BertpressError(f"{path} is not UTF-8 text (byte {error.start})") from error
    if not text.strip():
        raise BertpressError(f"{path} has no examples")
    if path.suffix.lower() in _JSON_LINES:
        return _json_lines(path, text)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        if error.msg == "Extra data":  # more than one JSON value: JSON lines under another suffix
            return _json_lines(path, text)
        raise BertpressError(
            f"{path} is not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})"
        ) from error
    if isinstance(document, dict) and "data" not in document and {"context", "question"} <= document.keys():
        return _json_lines(path, text)  # JSON lines with a single line
    if not isinstance(document, dict) or "data" not in document:
        raise BertpressError(
            f'{path} has no \'data\': give SQuAD JSON ({{"data": [{{"paragraphs": [...]}}]}}) '
            'or JSON lines (one {"context", "question", "answers"} object a line)'
        )
    return _squad_json(path, document)


def _squad_json(path: Path, document: dict) -> list[_Paragraph]:
    paragraphs = []
    for i, article in enumerate(_field(document, "data", list, str(path))):
        for j, paragraph in enumerate(_field(article, "paragraphs", list, f"{path}: data[{i}]")):
            where = f"{path}: data[{i}].paragraphs[{j}]"
            context = _field(paragraph, "context", str, where)
            questions = []
            for k, qa in enumerate(_field(paragraph, "qas", list, where)):
                at = f"{where}.qas[{k}]"
                qid = str(_field(qa, "id", (str, int), at)) if isinstance(qa, dict) and "id" in qa else at.split(": ", 1)[1]
                questions.append(_Question(qid, _field(qa, "question", str, at), qa.get("answers") or [], at))
            paragraphs.append(_Paragraph(context, questions))
    return paragraphs


def _json_lines(path: Path, text: str) -> list[_Paragraph]:
    """One paragraph per line; a line without an ``id`` is known by its line number."""
    paragraphs = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise BertpressError(f"{where} is not valid JSON ({error.msg} at column {error.colno})") from error
        if not isinstance(record, dict):
            raise BertpressError(f"{where} is not a JSON object with 'context', 'question' and 'answers'")
        qid = str(_field(record, "id", (str, int), where)) if "id" in record else str(number)
        question = _Question(qid, _field(record, "question", str, where), record.get("answers") or [], where)
        paragraphs.append(_Paragraph(_field(record, "context", str, where), [question]))
    return paragraphs


def _field(record: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(record, dict):
        raise BertpressError(f"{where} is not a JSON object")
    if key not in record:
        raise BertpressError(f"{where} has no '{key}'")
    value = record[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        names = " or ".join(t.__name__ for t in (kind if isinstance(kind, tuple) else (kind,)))
        raise BertpressError(f"{where}: '{key}' should be a {names}, not {type(value).__name__}")
    return value


def _answers(path: Path, question: _Question, context: str) -> dict[str, list]:
    """The answers as ``{"text", "answer_start"}`` lists, each found at its offset in the context."""
    texts, starts = _answer_lists(question)
    located = {"text": [], "answer_start": []}
    for text, start in zip(texts, starts):
        located["text"].append(text)
        located["answer_start"].append(_locate(path, question.id, text, start, context))
    return located


def _answer_lists(question: _Question) -> tuple[list, list]:
    """Texts and starts (None where the file gives none) from any of the three accepted shapes."""
    answers = question.answers
    if isinstance(answers, dict):
        texts, starts = answers.get("text", []), answers.get("answer_start")
        if starts is None:
            starts = [None] * len(texts) if isinstance(texts, list) else None
        if not isinstance(texts, list) or not isinstance(starts, list) or len(texts) != len(starts):
            raise _shape_error(question)
    elif isinstance(answers, list) and all(isinstance(answer, dict) for answer in answers):
        texts = [answer.get("text") for answer in answers]
        starts = [answer.get("answer_start") for answer in answers]
    elif isinstance(answers, list) and all(isinstance(answer, str) for answer in answers):
        texts, starts = answers, [None] * len(answers)
    else:
        raise _shape_error(question)
    if not all(isinstance(text, str) and text for text in texts):
        raise BertpressError(f"{question.where}: question '{question.id}' has an answer that is not a non-empty string")
    if not all(start is None or (isinstance(start, int) and not isinstance(start, bool)) for start in starts):
        raise BertpressError(
            f"{question.where}: question '{question.id}' has an answer_start that is not a whole number"
        )
    return texts, starts


def _shape_error(question: _Question) -> BertpressError:
    return BertpressError(f"{question.where}: the answers of question '{question.id}' are not {_ANSWER_SHAPES}")


def _locate(path: Path, qid: str, text: str, start: int | None, context: str) -> int:
    """The answer's offset: the given one if the text is there, else its first occurrence when none was given."""
    first = context.find(text)
    missing = f"{path}: the answer '{text}' of question '{qid}' is not in its context"
    if start is None:
        if first < 0:
            raise BertpressError(missing)
        return first
    if start < 0 or context[start : start + len(text)] != text:
        found = f"; it first occurs at {first}" if first >= 0 else ""
        raise BertpressError(f"{missing} at answer_start {start}{found}")
    return start
