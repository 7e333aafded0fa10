"""Query–passage pairs: calibration and distillation batches that hold each SQuAD question with its paragraph."""

from __future__ import annotations

import json

import numpy as np
import pytest
from datasets import Dataset
from test_embeddings import FAST_LATENCY, save_embedder_folder
from test_span_token_tasks import write_squad

from bertpress.cli import main
from bertpress.data.sampling import GROUP, sample
from bertpress.data.texts import TextSource, split_groups
from bertpress.errors import BertpressError
from bertpress.steps.workload import EmbeddingSetup, EmbeddingWorkload
from bertpress.train import loop


def test_a_sample_draws_whole_groups_and_the_same_ones_for_a_seed():
    groups = [0, 0, 1, 2, 2, 3, 3, 4, 5, 5]
    dataset = Dataset.from_dict({"text_a": [f"t{i}" for i in range(10)], GROUP: groups})
    drawn = sample(dataset, 5, seed=3)
    assert drawn[GROUP] == sample(dataset, 5, seed=3)[GROUP] and len(drawn) == 5
    for group in set(drawn[GROUP]):
        assert drawn[GROUP].count(group) == groups.count(group)  # never half a pair
    assert sample(dataset, 5, seed=4)[GROUP] != drawn[GROUP]
    pairs_only = Dataset.from_dict({"text_a": ["q", "p"], GROUP: [0, 0]})
    with pytest.raises(BertpressError, match=r"^1 samples cannot hold one whole group of 2 examples$"):
        sample(pairs_only, 1, seed=0)


def test_grouped_batches_keep_pairs_together_and_ungrouped_batches_are_unchanged():
    rng = np.random.default_rng(0)
    groups = np.concatenate([np.repeat(np.arange(500), 2), np.arange(500, 600)])  # 500 pairs, 100 single texts
    lengths = rng.integers(3, 256, len(groups))
    batches = loop.LengthGroupedBatches(lengths, 32, seed=1, groups=groups)._batches()
    assert sorted(i for batch in batches for i in batch) == list(range(len(groups)))
    assert all(len(batch) == 32 for batch in batches[:-1]) and len(batches) == len(loop.LengthGroupedBatches(lengths, 32, 1, groups))
    batch_of = {i: number for number, batch in enumerate(batches) for i in batch}
    together = sum(batch_of[2 * pair] == batch_of[2 * pair + 1] for pair in range(500))
    assert together >= 500 - len(batches)  # only a cut between two batches parts a pair
    assert batches == loop.LengthGroupedBatches(lengths, 32, seed=1, groups=groups)._batches()
    # every text a group of its own: the length-grouped batches of ungrouped text
    assert loop.LengthGroupedBatches(lengths, 32, 5, np.arange(len(lengths)))._batches() == loop.LengthGroupedBatches(lengths, 32, 5)._batches()


def test_the_groups_are_each_question_with_its_paragraph_then_the_other_texts(tmp_path):
    squad = write_squad(tmp_path / "train.json", questions=3)
    lines = tmp_path / "lines.txt"
    lines.write_text("a cat\na dog\na cat\n")
    document = json.loads((tmp_path / "train.json").read_text())
    paragraphs = document["data"][0]["paragraphs"]
    expected = [(q["question"], p["context"]) for p in paragraphs for q in p["qas"]] + [("a cat",), ("a dog",)]
    assert TextSource((squad, str(lines))).query_passage_groups() == expected
    setup = EmbeddingSetup(text_file=(squad, str(lines)), objective="similarity", query_passage_pairs=True)
    examples = EmbeddingWorkload(setup).training_examples()
    assert examples["text_a"] == [text for group in expected for text in group] and examples[GROUP] == [0, 0, 1, 1, 2, 2, 3, 4]


def test_pairs_need_the_similarity_objective_and_a_squad_file(tmp_path):
    lines = tmp_path / "lines.txt"
    lines.write_text("a cat\na dog\n")
    with pytest.raises(BertpressError, match=r"^query-passage pairs only change the similarity objective's in-batch term"):
        EmbeddingSetup(text_file=str(lines), query_passage_pairs=True)
    setup = EmbeddingSetup(text_file=str(lines), objective="similarity", query_passage_pairs=True)
    with pytest.raises(BertpressError, match=r"^query-passage pairs need a SQuAD JSON file among the text files"):
        EmbeddingWorkload(setup)


def test_distillation_on_query_passage_pairs_batches_each_question_with_its_paragraph(tmp_path, monkeypatch):
    model = save_embedder_folder(tmp_path / "embedder")
    squad = write_squad(tmp_path / "train.json", questions=40)
    seen = []

    class Recording(loop.LengthGroupedBatches):
        def __init__(self, lengths, batch_size, seed, groups=None):
            super().__init__(lengths, batch_size, seed, groups)
            seen.append(groups)

    monkeypatch.setattr(loop, "LengthGroupedBatches", Recording)
    output = tmp_path / "student"
    argv = ["distill", "--model", str(model), "--embedding", "--text-file", squad, "--max-length", "96",
            "--embedding-loss", "similarity", "--query-passage-pairs", "--macs", "0.6", "--epochs", "1",
            "--train-batch-size", "8", "--max-train-samples", "20", "--num-samples", "32", "--output", str(output),
            *FAST_LATENCY]
    assert main(argv) == 0
    groups = seen[-1]
    assert len(groups) == 20 and all(np.count_nonzero(groups == group) == 2 for group in groups)  # 10 whole pairs
    assert json.loads((output / "report.json").read_text())["training"]


def test_pairs_without_a_squad_file_are_refused_in_one_line_before_anything_is_written(tmp_path, capsys):
    model = save_embedder_folder(tmp_path / "embedder")
    lines = tmp_path / "lines.txt"
    lines.write_text("".join(f"sentence number {i}\n" for i in range(40)))
    output = tmp_path / "student"
    argv = ["distill", "--model", str(model), "--embedding", "--text-file", str(lines), "--embedding-loss", "similarity",
            "--query-passage-pairs", "--macs", "0.6", "--output", str(output)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "query-passage pairs need a SQuAD JSON file" in err, err
    assert not output.exists()


def test_calibration_takes_whole_pairs_in_order_and_holds_out_only_texts_it_does_not_read():
    groups = [(f"question {i}", "paragraph " + "x" * (i % 7)) for i in range(40)] + [(f"sentence {i}",) for i in range(20)]
    texts, held = split_groups(groups, 31, held_out=10, seed=2)
    assert len(texts) in (30, 31) and texts == split_groups(groups, 31, held_out=10, seed=2)[0]
    pairs = [tuple(texts[i : i + 2]) for i in range(len(texts) - 1) if texts[i].startswith("question")]
    assert pairs and all(pair in groups for pair in pairs)  # each question next to its own paragraph
    assert len(held) == 10 and not set(held) & set(texts)


def test_a_prune_calibrates_on_query_passage_pairs(tmp_path):
    model = save_embedder_folder(tmp_path / "embedder")
    squad = write_squad(tmp_path / "train.json", questions=40)
    output = tmp_path / "pruned"
    argv = ["prune", "--model", str(model), "--embedding", "--text-file", squad, "--max-length", "96", "--num-samples", "32",
            "--embedding-loss", "similarity", "--query-passage-pairs", "--macs", "0.6", "--no-tune", "--output", str(output),
            *FAST_LATENCY]
    assert main(argv) == 0
    report = json.loads((output / "report.json").read_text())
    assert report["macs_ratio"] < 0.61 and 0 < report["pruned"]["metrics"]["agreement"] <= 100
    assert report["calibration_source"] == f"{squad}, each question batched with its paragraph"
