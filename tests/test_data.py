"""Reading GLUE folders and custom files, tokenizing, batching and sampling.

The helpers at the top (a tiny tokenizer, hand-written GLUE files) are imported by the other data,
evaluate and finetune tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest
import torch
from datasets import Dataset
from transformers import BertTokenizer

from bertpress.data.sampling import sample
from bertpress.data.sources import GLUE_DIR_ENV, DataSource, load_split
from bertpress.data.tasks import get_task
from bertpress.data.tokenize import batches, encode
from bertpress.errors import BertpressError

VOCAB = "[PAD] [UNK] [CLS] [SEP] [MASK] the a cat dog sat on mat is good bad not it".split()


def make_tokenizer(**options) -> BertTokenizer:
    """A WordPiece tokenizer over ``VOCAB`` (ids fit the tiny models' vocabulary of 120)."""
    return BertTokenizer(vocab={word: index for index, word in enumerate(VOCAB)}, **options)


@pytest.fixture
def tokenizer() -> BertTokenizer:
    return make_tokenizer()


@pytest.fixture(autouse=True)
def datasets_cache(tmp_path, monkeypatch):
    """Keep the Arrow caches of the test files out of the user's Hugging Face cache."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")
    monkeypatch.delenv(GLUE_DIR_ENV, raising=False)


def _tsv(*rows: tuple) -> str:
    return "".join("\t".join(map(str, row)) + "\n" for row in rows)


_MNLI_HEADER = (
    "index promptID pairID genre sentence1_binary_parse sentence2_binary_parse sentence1_parse "
    "sentence2_parse sentence1 sentence2 label1 label2 label3 label4 label5 gold_label"
).split()


def _mnli_row(index, premise, hypothesis, label):
    parses = ("( x )", "( y )", "(ROOT x)", "(ROOT y)")
    return (index, 1, f"{index}e", "fiction", *parses, premise, hypothesis, *[label] * 6)


# task -> {file in the GLUE layout: its text}, and the (text_a, text_b, label) each split must give.
GLUE_FILES = {
    "cola": (
        {"CoLA/{split}.tsv": _tsv(("gj04", 1, "", "the cat sat ."), ("gj04", 0, "*", "cat the sat on ."))},
        [("the cat sat .", None, 1), ("cat the sat on .", None, 0)],
    ),
    "sst2": (
        {"SST-2/{split}.tsv": _tsv(("sentence", "label"), ("it is good ", 1), ("NA bad ", 0))},
        [("it is good ", None, 1), ("NA bad ", None, 0)],
    ),
    "mrpc": (
        {
            "MRPC/{split}.tsv": "\ufeff"
            + _tsv(
                ("Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"),
                (1, 11, 12, 'the cat " sat', "a cat sat ."),
                (0, 13, 14, "the dog", "it is bad"),
            )
        },
        [('the cat " sat', "a cat sat .", 1), ("the dog", "it is bad", 0)],
    ),
    "qqp": (
        {
            "QQP/{split}.tsv": _tsv(
                ("id", "qid1", "qid2", "question1", "question2", "is_duplicate"),
                (0, 1, 2, "is it good ?", "is it bad ?", 0),
                (1, 3, 4, "the cat ?", "a cat ?", 1),
            )
        },
        [("is it good ?", "is it bad ?", 0), ("the cat ?", "a cat ?", 1)],
    ),
    "stsb": (
        {
            "STS-B/{split}.tsv": _tsv(
                "index genre filename year old_index source1 source2 sentence1 sentence2 score".split(),
                (0, "main-captions", "MSRvid", "2012test", "0001", "none", "none", "a cat .", "the cat .", "5.000"),
                (1, "main-captions", "MSRvid", "2012test", "0004", "none", "none", "a dog .", "the mat .", "0.500"),
            )
        },
        [("a cat .", "the cat .", 5.0), ("a dog .", "the mat .", 0.5)],
    ),
    "mnli": (
        {
            "MNLI/{split}.tsv": _tsv(
                _MNLI_HEADER,
                _mnli_row(0, "the cat sat .", "a cat sat .", "entailment"),
                _mnli_row(1, "the dog sat .", "it is good .", "neutral"),
                _mnli_row(2, "the cat is good .", "the cat is bad .", "contradiction"),
            )
        },
        [
            ("the cat sat .", "a cat sat .", 0),
            ("the dog sat .", "it is good .", 1),
            ("the cat is good .", "the cat is bad .", 2),
        ],
    ),
    "qnli": (
        {
            "QNLI/{split}.tsv": _tsv(
                ("index", "question", "sentence", "label"),
                (0, "is it a cat ?", "it is a cat .", "entailment"),
                (1, "is it a dog ?", "the mat is bad .", "not_entailment"),
            )
        },
        [("is it a cat ?", "it is a cat .", 0), ("is it a dog ?", "the mat is bad .", 1)],
    ),
    "rte": (
        {
            "RTE/{split}.tsv": _tsv(
                ("index", "sentence1", "sentence2", "label"),
                (0, "the cat sat on the mat .", "a cat sat .", "entailment"),
                (1, "the dog is good .", "the dog is bad .", "not_entailment"),
                (2, "a cat is not a dog .", "it is a dog .", "not_entailment"),
                (3, "the mat is good .", "it is good .", "entailment"),
            )
        },
        [
            ("the cat sat on the mat .", "a cat sat .", 0),
            ("the dog is good .", "the dog is bad .", 1),
            ("a cat is not a dog .", "it is a dog .", 1),
            ("the mat is good .", "it is good .", 0),
        ],
    ),
    "wnli": (
        {
            "WNLI/{split}.tsv": _tsv(
                ("index", "sentence1", "sentence2", "label"),
                (0, "the cat sat . it is good .", "the cat is good .", 1),
                (1, "the dog sat . it is bad .", "the mat is bad .", 0),
            )
        },
        [("the cat sat . it is good .", "the cat is good .", 1), ("the dog sat . it is bad .", "the mat is bad .", 0)],
    ),
}


def write_glue(folder: Path) -> Path:
    """Every task's hand-written file, as each of its splits, in the layout of the GLUE download script."""
    for name, (files, _) in GLUE_FILES.items():
        for pattern, text in files.items():
            for split in get_task(name).splits:
                path = folder / pattern.format(split=split)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def glue_dir(tmp_path) -> Path:
    return write_glue(tmp_path / "glue")


def _examples(dataset: Dataset) -> list[tuple]:
    return [(row["text_a"], row.get("text_b"), row["label"]) for row in dataset]


@pytest.mark.parametrize("name", sorted(GLUE_FILES))
def test_each_glue_task_reads_its_files(glue_dir, name):
    task = get_task(name)
    for split in task.splits:
        dataset = load_split(task, split, DataSource(data_dir=str(glue_dir)))
        assert _examples(dataset) == GLUE_FILES[name][1]  # STS-B scores are exact in float32


def test_label_types_follow_the_task(glue_dir):
    source = DataSource(data_dir=str(glue_dir))
    assert load_split(get_task("stsb"), "dev", source).features["label"].dtype == "float32"
    assert load_split(get_task("rte"), "dev", source).features["label"].names == ["entailment", "not_entailment"]


def test_mnli_dev_means_matched(glue_dir):
    mismatched = glue_dir / "MNLI" / "dev_mismatched.tsv"
    mismatched.write_text(_tsv(_MNLI_HEADER, _mnli_row(0, "a cat .", "a dog .", "neutral")))
    mnli, source = get_task("mnli"), DataSource(data_dir=str(glue_dir))
    assert len(load_split(mnli, "dev", source)) == 3
    assert _examples(load_split(mnli, "dev_mismatched", source)) == [("a cat .", "a dog .", 1)]


def test_glue_dir_defaults_to_the_environment(glue_dir, monkeypatch):
    monkeypatch.setenv(GLUE_DIR_ENV, str(glue_dir))
    assert len(load_split(get_task("sst2"), "dev", DataSource())) == 2


def test_custom_csv_with_quotes_and_named_labels(tmp_path):
    path = tmp_path / "dev.csv"
    path.write_text('premise,hypothesis,gold\n"the cat, it sat",a cat sat,entailment\nthe dog,a mat,not_entailment\n')
    source = DataSource(dev_file=str(path), text_columns=("premise", "hypothesis"), label_column="gold")
    assert _examples(load_split(get_task("rte"), "dev", source)) == [
        ("the cat, it sat", "a cat sat", 0),
        ("the dog", "a mat", 1),
    ]


def test_custom_jsonl_uses_the_tasks_columns_by_default(tmp_path):
    path = tmp_path / "train.jsonl"
    rows = [{"sentence": "good", "label": 1}, {"sentence": "bad", "label": 0}]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    dataset = load_split(get_task("sst2"), "train", DataSource(train_file=str(path)))
    assert _examples(dataset) == [("good", None, 1), ("bad", None, 0)]


def test_custom_tsv_single_text_column(tmp_path):
    path = tmp_path / "dev.tsv"
    path.write_text(_tsv(("text", "y"), ("it is good", "positive"), ("it is bad", "negative")))
    source = DataSource(dev_file=str(path), text_columns=("text",), label_column="y")
    assert _examples(load_split(get_task("sst2"), "dev", source)) == [("it is good", None, 1), ("it is bad", None, 0)]


@pytest.mark.parametrize(
    ("file_text", "message"),
    [
        (_tsv(("sentence", "label")), "has no examples"),
        (_tsv(("sentence", "label"), ("good", 1), ("bad", 0, "extra")), "Expected 2 fields in line 3, saw 3"),
        (_tsv(("sentence", "label"), ("good", 7)), "bad label in column 'label'"),
        (_tsv(("sentence", "label"), ("good", "great")), "bad label in column 'label'"),
        (_tsv(("text", "label"), ("good", 1)), "has no column 'sentence'"),
        ("", "has no examples"),
    ],
)
def test_bad_files_raise_one_clear_error(glue_dir, file_text, message):
    path = glue_dir / "SST-2" / "dev.tsv"
    path.write_text(file_text)
    with pytest.raises(BertpressError, match=message) as raised:
        load_split(get_task("sst2"), "dev", DataSource(data_dir=str(glue_dir)))
    assert str(path) in str(raised.value)


def test_missing_files_and_folders(glue_dir, tmp_path):
    sst2 = get_task("sst2")
    with pytest.raises(BertpressError, match="data folder not found"):
        load_split(sst2, "dev", DataSource(data_dir=str(tmp_path / "nowhere")))
    (glue_dir / "SST-2" / "dev.tsv").unlink()
    with pytest.raises(BertpressError, match="no SST-2/dev.tsv in"):
        load_split(sst2, "dev", DataSource(data_dir=str(glue_dir)))
    with pytest.raises(BertpressError, match="data file not found"):
        load_split(sst2, "dev", DataSource(dev_file=str(tmp_path / "missing.csv")))


def _pairs(n: int) -> Dataset:
    words = VOCAB[5:]
    return Dataset.from_dict(
        {
            "text_a": [" ".join(words[: 1 + i % 9]) for i in range(n)],
            "text_b": [" ".join(words[: 1 + (3 * i) % 7]) for i in range(n)],
            "label": [i % 2 for i in range(n)],
        }
    )


def test_encode_truncates_pairs_longest_first(tokenizer):
    dataset = Dataset.from_dict({"text_a": ["the cat sat on the mat is good"], "text_b": ["a dog"], "label": [1]})
    encoded = encode(dataset, tokenizer, max_length=8)
    assert set(encoded.column_names) == {"input_ids", "token_type_ids", "attention_mask", "labels"}
    # Three special tokens leave five: the long first text lost tokens, the short second one kept both.
    assert tokenizer.decode(encoded[0]["input_ids"]) == "[CLS] the cat sat [SEP] a dog [SEP]"


def test_batches_pad_dynamically_and_keep_every_example(tokenizer):
    encoded = encode(_pairs(21), tokenizer, max_length=16)
    lengths = [len(ids) for ids in encoded["input_ids"]]
    result = batches(encoded, tokenizer, batch_size=8)
    assert [len(batch["labels"]) for batch in result] == [8, 8, 5]
    for index, batch in enumerate(result):
        assert batch["input_ids"].shape[1] == max(lengths[8 * index : 8 * index + 8])
        assert batch["labels"].dtype == torch.long
        assert (batch["attention_mask"].sum(1) == torch.tensor(lengths[8 * index : 8 * index + 8])).all()


def test_sorted_batches_pad_less_and_shuffles_repeat(tokenizer):
    encoded = encode(_pairs(40), tokenizer, max_length=16)

    def padded(result):
        return sum(batch["input_ids"].numel() for batch in result)

    assert padded(batches(encoded, tokenizer, 8, sort_by_length=True)) < padded(batches(encoded, tokenizer, 8))
    first, again, other = (
        batches(encoded, tokenizer, 8, shuffle=True, seed=seed, sort_by_length=True) for seed in (1, 1, 2)
    )
    assert all(torch.equal(a["input_ids"], b["input_ids"]) for a, b in zip(first, again))
    assert not all(torch.equal(a["input_ids"], b["input_ids"]) for a, b in zip(first, other))
    assert sorted(torch.cat([b["attention_mask"].sum(1) for b in first]).tolist()) == sorted(
        len(ids) for ids in encoded["input_ids"]
    )


def test_regression_labels_are_float(tokenizer):
    dataset = Dataset.from_dict({"text_a": ["a cat", "a dog"], "text_b": ["the cat", "the mat"], "label": [4.5, 0.25]})
    (batch,) = batches(encode(dataset, tokenizer), tokenizer, batch_size=4)
    assert batch["labels"].dtype == torch.float32
    assert batch["labels"].tolist() == [4.5, 0.25]


def test_sampling_is_seeded_and_without_replacement():
    dataset = _pairs(50).add_column("id", list(range(50)))
    first, again, other = (sample(dataset, 20, seed)["id"] for seed in (3, 3, 4))
    assert first == again != other
    assert len(set(first)) == 20
    assert sample(dataset, 80, 3)["id"] == list(range(50))
    with pytest.raises(BertpressError):
        sample(dataset, 0, 3)
