"""Text for embedders from a SQuAD file: its paragraphs and questions, cut at passage length."""

from __future__ import annotations

import json

import pytest
from test_embeddings import prune_cli, save_embedder_folder
from test_span_token_tasks import write_squad

from bertpress.data.texts import PASSAGE_LENGTH, TextSource, text_length
from bertpress.data.tasks import DEFAULT_LENGTH
from bertpress.errors import BertpressError
from bertpress.steps.workload import EmbeddingSetup, EmbeddingWorkload


def test_a_squad_file_gives_its_paragraphs_then_its_questions_at_passage_length(tmp_path):
    path = write_squad(tmp_path / "train.json", questions=6)
    document = json.loads((tmp_path / "train.json").read_text())
    paragraphs = [paragraph for article in document["data"] for paragraph in article["paragraphs"]]
    expected = list(dict.fromkeys(p["context"] for p in paragraphs)) + [q["question"] for p in paragraphs for q in p["qas"]]
    # "is it good" is asked of every paragraph: distinct texts, in the order first seen
    assert TextSource(path).load() == list(dict.fromkeys(expected))
    assert text_length(path) == PASSAGE_LENGTH == EmbeddingWorkload(EmbeddingSetup(text_file=path)).task.max_length
    lines = tmp_path / "lines.txt"
    lines.write_text("a cat\na dog\n")
    assert text_length(str(lines)) == DEFAULT_LENGTH == EmbeddingWorkload(EmbeddingSetup(text_file=str(lines))).task.max_length


def test_a_label_free_prune_reads_a_squad_file(tmp_path):
    model = save_embedder_folder(tmp_path / "embedder")
    squad = write_squad(tmp_path / "train.json", questions=40)
    output = tmp_path / "pruned"
    # the tiny model has 130 positions, fewer than the passage length: the flag says how many
    assert prune_cli(model, output, "--text-file", squad, "--max-length", "96", "--macs", "0.6", "--no-tune") == 0
    report = json.loads((output / "report.json").read_text())
    assert report["task"] == "embedding" and report["macs_ratio"] < 0.61


def test_a_squad_file_without_paragraphs_is_refused_in_one_line(tmp_path, capsys):
    model = save_embedder_folder(tmp_path / "embedder")
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"version": "1.1", "data": [{"title": "t", "paragraphs": []}]}))
    output = tmp_path / "out"
    assert prune_cli(model, output, "--text-file", str(empty), "--max-length", "96", "--macs", "0.5") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is a SQuAD file with no paragraphs" in err, err
    assert not output.exists()


def test_several_text_files_pool_their_texts_and_the_column_names_the_tables(tmp_path):
    squad = write_squad(tmp_path / "train.json", questions=6)
    lines = tmp_path / "lines.txt"
    lines.write_text("a cat\nis it good\na dog\n")  # "is it good" is also a SQuAD question: kept once
    table = tmp_path / "sst.tsv"
    table.write_text("sentence\tlabel\na fine film\t1\na cat\t0\n")
    files = [squad, str(lines), str(table)]
    pooled = TextSource(tuple(files), text_column="sentence").load()
    assert pooled == list(dict.fromkeys(TextSource(squad).load() + ["a cat", "is it good", "a dog", "a fine film"]))
    # a SQuAD file among them: passage length for all; a list is held as a tuple, one file as its path
    assert text_length(files) == PASSAGE_LENGTH == EmbeddingWorkload(EmbeddingSetup(text_file=files)).task.max_length
    assert EmbeddingSetup(text_file=files).text_file == tuple(files) and EmbeddingSetup(text_file=[squad]).text_file == squad
    with pytest.raises(BertpressError, match=r"^--text-column applies to \.csv, \.tsv and \.jsonl files, not to train\.json, lines\.txt$"):
        TextSource((squad, str(lines)), text_column="sentence").load()


def test_a_prune_calibrates_on_several_text_files_and_protects_each(tmp_path, capsys):
    model = save_embedder_folder(tmp_path / "embedder")
    squad = write_squad(tmp_path / "train.json", questions=40)
    (tmp_path / "texts").mkdir()
    lines = tmp_path / "texts" / "lines.txt"
    lines.write_text("".join(f"sentence number {i}\n" for i in range(40)))
    output = tmp_path / "pruned"
    common = ("--text-file", squad, "--text-file", str(lines), "--max-length", "96", "--macs", "0.6", "--no-tune")
    assert prune_cli(model, output, *common) == 0
    report = json.loads((output / "report.json").read_text())
    assert report["calibration_source"] == f"{squad} + {lines}" and report["macs_ratio"] < 0.61
    before = lines.read_bytes()
    capsys.readouterr()
    assert prune_cli(model, lines.parent, *common, "--overwrite") == 2  # the second text file is an input too
    assert "input" in capsys.readouterr().err and lines.read_bytes() == before
