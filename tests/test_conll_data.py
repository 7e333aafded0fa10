"""Reading CoNLL column files and checking IOB2 tags."""

from __future__ import annotations

import pytest

from bertpress.data.conll import FEATURES, check_iob2, read_conll
from bertpress.errors import BertpressError

CONLL = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER


-DOCSTART- -X- -X- O
BRUSSELS NNP B-NP B-LOC
1996-08-22 CD I-NP O"""


def _write(tmp_path, text: str, name: str = "eng.train") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _refusal(path, **options) -> str:
    with pytest.raises(BertpressError) as raised:
        read_conll(path, **options)
    message = str(raised.value)
    assert "\n" not in message
    return message


def test_sentences_split_on_blank_lines_and_documents(tmp_path):
    dataset = read_conll(_write(tmp_path, CONLL))
    assert dataset.features == FEATURES
    assert dataset.to_list() == [
        {"tokens": ["EU", "rejects", "German"], "tags": ["B-ORG", "O", "B-MISC"]},
        {"tokens": ["Peter", "Blackburn"], "tags": ["B-PER", "I-PER"]},
        {"tokens": ["BRUSSELS", "1996-08-22"], "tags": ["B-LOC", "O"]},  # no blank line after DOCSTART or at the end
    ]


def test_label_column_picks_another_column(tmp_path):
    path = _write(tmp_path, CONLL)
    assert read_conll(path, label_column=2)["tags"] == [["B-NP", "B-VP", "B-NP"], ["B-NP", "I-NP"], ["B-NP", "I-NP"]]
    middle = _write(tmp_path, "EU B-ORG NNP\nrejects O VBZ\n", "middle.txt")
    assert read_conll(middle, label_column=1)["tags"] == read_conll(middle, label_column=-2)["tags"] == [["B-ORG", "O"]]
    # Any column read as tags is checked: part-of-speech tags are not IOB2.
    assert _refusal(path, label_column=1).startswith(f"{path}:3: tag 'NNP' is not IOB2")
    two = _write(tmp_path, "Paris\tB-LOC\r\nis O\r\n\r\n", "two.txt")
    assert read_conll(two).to_list() == [{"tokens": ["Paris", "is"], "tags": ["B-LOC", "O"]}]


@pytest.mark.parametrize(
    "tags",
    [[], ["O"], ["B-PER", "I-PER", "O", "B-LOC"], ["B-PER", "B-PER"], ["B-LOC", "I-LOC", "I-LOC", "B-ORG", "I-ORG"]]
    + [["B-WORK-OF-ART", "I-WORK-OF-ART"]],
)
def test_iob2_sequences_pass(tags):
    assert check_iob2(tags) is None


@pytest.mark.parametrize(
    "tags, position",
    [
        (["I-PER"], 0),  # IOB1: an entity may start with I-
        (["O", "I-PER"], 1),
        (["B-PER", "I-LOC"], 1),
        (["B-PER", "O", "I-PER"], 2),
        (["B-"], 0),
        (["O", "X"], 1),
        (["b-PER"], 0),
        (["B_PER"], 0),
    ],
)
def test_non_iob2_sequences_say_where(tags, position):
    assert check_iob2(tags) == (
        f"tag '{tags[position]}' at position {position} is not IOB2 (O, B-TYPE, or I-TYPE continuing the same TYPE)"
    )


def test_an_iob1_file_is_refused_at_its_line(tmp_path):
    path = _write(tmp_path, "EU B-ORG\nrejects O\n\nPeter I-PER\n")
    assert _refusal(path) == f"{path}:4: tag 'I-PER' is not IOB2 (O, B-TYPE, or I-TYPE continuing the same TYPE)"


@pytest.mark.parametrize(
    "text, options, message",
    [
        ("", {}, "{path} has no examples"),
        ("\n\n", {}, "{path} has no examples"),
        ("-DOCSTART- -X- O\n\n", {}, "{path} has no examples"),
        ("EU B-ORG\nrejects\n", {}, "{path}:2: the line has 1 column; label_column -1 needs at least 2"),
        ("EU NNP B-ORG\n", {"label_column": 3}, "{path}:1: the line has 3 columns; label_column 3 needs at least 4"),
        ("EU NNP B-ORG\n", {"label_column": -3}, "{path}:1: the line has 3 columns; label_column -3 needs at least 4"),
        ("EU B-ORG\nX I-LOC\n", {}, "{path}:2: tag 'I-LOC' is not IOB2"),
        ("EU B-ORG\n", {"label_column": 0}, "label_column 0 is the token column"),
    ],
)
def test_bad_files_are_refused_in_one_line(tmp_path, text, options, message):
    path = _write(tmp_path, text)
    assert _refusal(path, **options).startswith(message.replace("{path}", path))


def test_missing_and_undecodable_files(tmp_path):
    missing = tmp_path / "missing.txt"
    assert _refusal(missing) == f"data file not found: {missing}"
    latin = tmp_path / "latin.txt"
    latin.write_bytes("EU B-ORG\n\nM\u00fcller B-PER\n".encode("latin-1"))
    assert _refusal(latin) == f"{latin}:3: not UTF-8 text"


@pytest.mark.integration
def test_the_shared_conll2003_files(shared):
    folder = shared / "data" / "conll2003"
    sizes = {name: len(read_conll(folder / name)) for name in ("eng.train", "eng.testa", "eng.testb")}
    assert sizes == {"eng.train": 14_041, "eng.testa": 3_250, "eng.testb": 3_453}
