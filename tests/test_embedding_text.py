"""Text for embedders from a SQuAD file: its paragraphs and questions, cut at passage length."""

from __future__ import annotations

import json

from test_embeddings import prune_cli, save_embedder_folder
from test_span_token_tasks import write_squad

from bertpress.data.texts import PASSAGE_LENGTH, TextSource, text_length
from bertpress.data.tasks import DEFAULT_LENGTH
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
