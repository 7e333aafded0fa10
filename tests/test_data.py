"""Reading GLUE folders and custom files, tokenizing, batching and sampling.

The helpers at the top (a tiny tokenizer, hand-written GLUE files) are imported by the other data,
evaluate and finetune tests.
"""

from __future__ import annotations

import json

import pytest
import torch
from conftest import VOCAB
from datasets import Dataset
from glue_files import GLUE_FILES, MNLI_HEADER, mnli_row, tsv

from bertpress.data.sampling import sample
from bertpress.data.sources import GLUE_DIR_ENV, DataSource, load_split
from bertpress.data.tasks import get_task
from bertpress.data.tokenize import batches, encode
from bertpress.errors import BertpressError


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
    mismatched.write_text(tsv(MNLI_HEADER, mnli_row(0, "a cat .", "a dog .", "neutral")))
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
    path.write_text(tsv(("text", "y"), ("it is good", "positive"), ("it is bad", "negative")))
    source = DataSource(dev_file=str(path), text_columns=("text",), label_column="y")
    assert _examples(load_split(get_task("sst2"), "dev", source)) == [("it is good", None, 1), ("it is bad", None, 0)]


@pytest.mark.parametrize(
    ("file_text", "message"),
    [
        (tsv(("sentence", "label")), "has no examples"),
        (tsv(("sentence", "label"), ("good", 1), ("bad", 0, "extra")), "Expected 2 fields in line 3, saw 3"),
        (tsv(("sentence", "label"), ("good", 7)), "bad label in column 'label'"),
        (tsv(("sentence", "label"), ("good", "great")), "bad label in column 'label'"),
        (tsv(("text", "label"), ("good", 1)), "has no column 'sentence'"),
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
