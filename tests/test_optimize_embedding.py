"""`bertpress optimize --embedding`: the search over structures and backends for a sentence
embedder, ranked by retrieval (or STS-B), and the objective that keeps in-batch similarities."""

from __future__ import annotations

import json

import pytest
import torch
from test_embeddings import save_embedder_folder, texts

from bertpress import api
from bertpress.cli import main
from bertpress.errors import BertpressError
from bertpress.models.pooling import Pooling
from bertpress.models.task_heads import Embedding

FAST = ["--num-samples", "32", "--min-time", "0.01", "--batch-size", "8", "--seq-length", "32"]


@pytest.fixture
def squad_file(tmp_path):
    """A SQuAD-format file: 12 paragraphs, each with a question made of its first words."""
    paragraphs = [{"context": text, "qas": [{"question": " ".join(text.split()[:3]) + " ?"}]} for text in texts(12, seed=3)]
    path = tmp_path / "squad.json"
    path.write_text(json.dumps({"data": [{"title": "t", "paragraphs": paragraphs}]}))
    return path


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "texts.txt"
    path.write_text("\n".join(texts(160)) + "\n")
    return path


def optimize_embedding(model, text, squad, output, *extra) -> int:
    return main(["optimize", "--model", str(model), "--embedding", "--text-file", str(text), "--metric", "ndcg@10",
                 "--data-file", str(squad), "--output", str(output), *FAST, *extra])


def test_optimize_embedding_ranks_by_retrieval_and_saves_an_embedder(tmp_path, text_file, squad_file, capsys):
    model = save_embedder_folder(tmp_path / "embedder")
    output = tmp_path / "search"
    code = optimize_embedding(model, text_file, squad_file, output, "--speedup", "1.0", "--max-drop", "100",
                              "--backend", "torch-fp32", "--no-distill")
    assert code == 0, capsys.readouterr().err
    report = json.loads((output / "pareto.json").read_text())
    assert report["task"] == "embedding" and report["metric_name"] == "ndcg@10"
    judged = [c for c in report["candidates"] if c["metric"] is not None]
    assert len(judged) > 2 and all(c["agreement"] is not None for c in judged)
    best = report["candidates"][report["chosen"]]
    # the chosen model is a sentence-transformers folder that scores what the search measured
    chosen = output / "model"
    assert (chosen / "modules.json").is_file()
    result = tmp_path / "retrieval.json"
    assert main(["evaluate", "--model", str(chosen), "--task", "squad-retrieval", "--data-file", str(squad_file),
                 "--max-length", "32", "--json", str(result)]) == 0
    assert json.loads(result.read_text())["metrics"]["ndcg@10"] == pytest.approx(best["metric"], abs=1e-3)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--metric", "ndcg@10"], "--metric ndcg@10 needs a retrieval file: --data-file"),
        (["--metric", "stsb"], "--metric stsb needs the GLUE data: --data-dir"),
        (["--data-file", "DIR/missing.json"], "data file not found"),
        (["--task", "stsb", "--data-file", "DIR/x.json"], "--data-file is the retrieval file a sentence embedder is scored on"),
        (["--task", "stsb", "--metric", "stsb"], "--metric chooses a sentence embedder's score: add --embedding"),
    ],
)
def test_bad_embedding_search_input_is_one_line_and_writes_nothing(tmp_path, text_file, extra, message, capsys, monkeypatch):
    monkeypatch.delenv("BERTPRESS_GLUE_DIR", raising=False)
    model = save_embedder_folder(tmp_path / "embedder")
    output = tmp_path / "search"
    extra = [item.replace("DIR", str(tmp_path)) for item in extra]
    embedding = [] if "--task" in extra else ["--embedding", "--text-file", str(text_file)]
    code = main(["optimize", "--model", str(model), *embedding, "--output", str(output),
                 "--speedup", "2", "--max-drop", "1", *FAST, *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err
    assert not output.exists()


def test_the_similarity_objective_adds_what_cosine_alone_misses():
    """The ``similarity`` objective is the cosine distance plus the error of each text's similarities
    to the rest of its batch: nothing for a student that keeps the batch's geometry (rotated as a
    whole), a positive cost for one whose relations are broken, zero for the teacher itself."""
    torch.manual_seed(0)
    teacher = torch.nn.functional.normalize(torch.randn(6, 16), dim=-1)
    similarity, cosine = Embedding(Pooling("mean"), "similarity"), Embedding(Pooling("mean"), "cosine")
    rotated = teacher @ torch.linalg.qr(torch.randn(16, 16))[0]
    broken = torch.nn.functional.normalize(teacher + 0.8 * torch.randn(6, 16), dim=-1)
    assert similarity.soft_losses(teacher, teacher, 1.0).abs().max() < 1e-6

    def relation_part(student):
        return similarity.soft_losses(student, teacher, 1.0) - cosine.soft_losses(student, teacher, 1.0)

    assert relation_part(rotated).abs().max() < 1e-5 and (relation_part(broken) > 1e-3).all()


def test_embedding_setup_refuses_a_squad_file_without_paragraphs(tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"data": [{"title": "t", "paragraphs": []}]}))
    with pytest.raises(BertpressError, match="has no examples"):
        api.EmbeddingSetup(retrieval_file=str(empty))
