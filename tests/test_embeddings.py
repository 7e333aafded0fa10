"""Sentence-embedding models: pooling as sentence-transformers computes it, label-free pruning and
distillation from unlabeled text, folders that sentence-transformers loads, ONNX export,
STS/retrieval evaluation, and the inputs that are refused."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from conftest import FAST_LATENCY, make_tokenizer, onednn_at_each_call, random_sentence, save_tiny_model
from sentence_transformers import SentenceTransformer
from transformers import BertConfig, BertModel

from bertpress import api
from bertpress.cli import main
from bertpress.data.sources import DataSource
from bertpress.data.text_sample import SAMPLE_FILE, SAMPLE_NAME, sample_texts
from bertpress.measure.embeddings import _gold_ranks, embed, retrieval_metrics, squad_retrieval, sts_similarity
from bertpress.models.adapters import get_adapter
from bertpress.models.task_heads import Embedding, with_fisher_noise
from bertpress.models.loading import load_tokenizer, resolve_model
from bertpress.models.pooling import Pooling
from bertpress.models.saving import save_model
from bertpress.prune.fisher import collect_mask_gradients


def save_embedder_folder(folder: Path, mode: str = "mean", normalize: bool = True, seed: int = 0) -> Path:
    """A tiny random BERT saved as a sentence-transformers folder."""
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=120, max_position_embeddings=130, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
        intermediate_size=64,
    )
    folder.mkdir(parents=True)
    save_model(BertModel(config).eval(), make_tokenizer(), folder)
    Pooling(mode, normalize, max_seq_length=64).write(folder, 32)
    return folder


def texts(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [random_sentence(rng) for _ in range(count)]


def squad_file(folder: Path) -> Path:
    """A SQuAD-format file of five paragraphs, each with one question (its first word)."""
    squad = folder / "squad.json"
    paragraphs = [{"context": text, "qas": [{"question": text.split()[0] + " ?"}]} for text in texts(5)]
    squad.write_text(json.dumps({"data": [{"title": "t", "paragraphs": paragraphs}]}))
    return squad


@pytest.fixture
def embedder_dir(tmp_path) -> Path:
    return save_embedder_folder(tmp_path / "embedder")


@pytest.fixture
def text_file(tmp_path) -> Path:
    path = tmp_path / "texts.txt"
    path.write_text("\n".join(texts(96)) + "\n")
    return path


def st_embeddings(folder: Path, sentences: list[str], **options) -> torch.Tensor:
    model = SentenceTransformer(str(folder), device="cpu", **options)
    return model.encode(sentences, convert_to_tensor=True, batch_size=8)


@pytest.mark.parametrize("mode,normalize", [("mean", True), ("cls", False), ("max", True)])
def test_pooling_matches_sentence_transformers(tmp_path, mode, normalize):
    folder = save_embedder_folder(tmp_path / mode, mode, normalize)
    sentences = texts(20)
    ours = embed(api.load_embedder(str(folder)), make_tokenizer(), sentences, batch_size=7, progress=False)
    assert torch.allclose(ours, st_embeddings(folder, sentences), atol=1e-5)


def test_fisher_noise_gives_gradients_where_the_unpruned_model_agrees_with_itself(embedder_dir):
    model = api.load_embedder(str(embedder_dir))
    batch = make_tokenizer()(texts(8), padding=True, return_tensors="pt")
    task_head = Embedding(model.pooling)
    with torch.no_grad():
        reference = model(**batch).sentence_embedding
    assert float(task_head.loss_from_scores(reference, reference)) == 0  # no noise: nothing to learn from
    batch["labels"] = with_fisher_noise(reference, torch.Generator().manual_seed(0))
    gradients = collect_mask_gradients(get_adapter(model), [dict(batch)], task_head, progress=False)
    assert all(float(g.abs().sum()) > 0 for g in gradients.heads + gradients.neurons)


def prune_cli(model, output, *extra) -> int:
    return main(
        ["prune", "--model", str(model), "--embedding", "--output", str(output), "--num-samples", "64", *FAST_LATENCY,
         *extra]
    )


def test_label_free_prune_gives_a_folder_sentence_transformers_loads(embedder_dir, text_file, tmp_path):
    output = tmp_path / "pruned"
    assert prune_cli(embedder_dir, output, "--text-file", str(text_file), "--macs", "0.5") == 0
    report = json.loads((output / "report.json").read_text())
    assert report["task"] == "embedding" and report["macs_ratio"] < 0.51  # whole model; the budget is the encoder's
    assert 0 < report["pruned"]["metrics"]["agreement"] <= 100 and report["baseline"]["metrics"]["agreement"] == 100
    assert len(set(report["heads_per_layer"] + report["neurons_per_layer"])) > 2  # layers differ in size
    sentences = texts(12, seed=5)
    ours = embed(api.load_embedder(str(output)), make_tokenizer(), sentences, progress=False)
    theirs = st_embeddings(output, sentences, trust_remote_code=True)
    assert torch.allclose(ours, theirs, atol=1e-5)
    # The same inputs and seed give the same model.
    again = tmp_path / "again"
    assert prune_cli(embedder_dir, again, "--text-file", str(text_file), "--macs", "0.5") == 0
    assert json.loads((again / "report.json").read_text())["neurons_per_layer"] == report["neurons_per_layer"]


def test_iterative_label_free_prune_redoes_the_statistics_per_stage(embedder_dir, text_file, tmp_path):
    output = tmp_path / "iterative"
    assert prune_cli(embedder_dir, output, "--text-file", str(text_file), "--macs", "0.5", "--gradual") == 0
    report = json.loads((output / "report.json").read_text())
    assert [(s["name"], s["config"]["macs"]) for s in report["steps"]] == [("prune", 0.7), ("prune", 0.5)]
    assert report["macs_ratio"] < 0.51 and 0 < report["pruned"]["metrics"]["agreement"] <= 100
    assert report["steps"][0]["macs"] > report["steps"][1]["macs"]


def test_text_from_a_table_column(embedder_dir, tmp_path):
    table = tmp_path / "texts.csv"
    table.write_text("id,body\n" + "".join(f"{i},{text}\n" for i, text in enumerate(texts(80))))
    output = tmp_path / "from-table"
    extra = ["--text-file", str(table), "--text-column", "body", "--macs", "0.6", "--no-tune"]
    assert prune_cli(embedder_dir, output, *extra) == 0
    assert (output / "modules.json").is_file() and (output / "1_Pooling" / "config.json").is_file()


def test_distilled_embedder_after_layer_dropping(embedder_dir, text_file, tmp_path):
    output = tmp_path / "student"
    code = main(
        ["distill", "--model", str(embedder_dir), "--embedding", "--text-file", str(text_file), "--drop-layers", "1",
         "--epochs", "1", "--train-batch-size", "16", "--num-samples", "64", "--output", str(output), *FAST_LATENCY]
    )
    assert code == 0
    report = json.loads((output / "report.json").read_text())
    assert report["dropped_layers"] and report["training"] and "agreement" in report["pruned"]["metrics"]
    sentences = texts(6, seed=9)
    assert torch.allclose(
        embed(api.load_embedder(str(output)), make_tokenizer(), sentences, progress=False),
        st_embeddings(output, sentences, trust_remote_code=True), atol=1e-5,
    )


@pytest.mark.parametrize("int8", [False, True])
def test_onnx_export_of_an_embedder(embedder_dir, tmp_path, int8):
    output = tmp_path / "onnx"
    report = api.export(str(embedder_dir), output, embedding=True, int8=int8)
    assert report.max_abs_diff < 1e-4
    exported = api.load_embedder(str(output))
    sentences = texts(10, seed=3)
    ours = embed(exported, make_tokenizer(), sentences, progress=False)
    reference = embed(api.load_embedder(str(embedder_dir)), make_tokenizer(), sentences, progress=False)
    assert torch.nn.functional.cosine_similarity(ours, reference).min() > (0.99 if int8 else 0.99999)


def test_retrieval_metrics_of_known_ranks():
    queries = torch.eye(3)
    documents = torch.tensor([[1.0, 0, 0], [0.9, 0.5, 0], [0, 0, 1]])
    ranks = _gold_ranks(queries, documents, torch.tensor([0, 1, 0]))
    assert ranks.tolist() == [1, 1, 2]
    metrics = retrieval_metrics(torch.tensor([1, 2, 11]))
    assert metrics["recall@1"] == pytest.approx(100 / 3, abs=1e-3)
    assert metrics["recall@10"] == pytest.approx(200 / 3, abs=1e-3)
    assert metrics["mrr@10"] == pytest.approx(100 * (1 + 0.5) / 3, abs=1e-3)
    assert metrics["ndcg@10"] == pytest.approx(100 * (1 + 1 / 1.5849625) / 3, abs=1e-3)


def test_squad_retrieval_and_sts_evaluation(embedder_dir, glue_dir, tmp_path, capsys):
    squad = squad_file(tmp_path)
    result = tmp_path / "retrieval.json"
    args = ["evaluate", "--model", str(embedder_dir), "--task", "squad-retrieval", "--data-file", str(squad)]
    assert main([*args, "--json", str(result)]) == 0
    metrics = json.loads(result.read_text())["metrics"]
    assert set(metrics) == {"recall@1", "recall@10", "mrr@10", "ndcg@10"} and metrics["recall@10"] == 100
    sts = tmp_path / "sts.json"
    args = ["evaluate", "--model", str(embedder_dir), "--task", "stsb", "--embedding", "--data-dir", str(glue_dir)]
    assert main([*args, "--json", str(sts)]) == 0
    assert "spearman" in json.loads(sts.read_text())["metrics"]


def test_embedder_scoring_runs_without_onednn_and_leaves_it_on(embedder_dir, glue_dir, tmp_path):
    squad = squad_file(tmp_path)
    model, tokenizer = api.load_embedder(str(embedder_dir)), load_tokenizer(str(embedder_dir))
    seen = onednn_at_each_call(model)
    squad_retrieval(model, tokenizer, squad, progress=False)
    sts_similarity(model, tokenizer, DataSource(data_dir=str(glue_dir)), progress=False)
    assert seen and not any(seen)  # many batch lengths (bertpress.memory)
    assert torch.backends.mkldnn.enabled
    embed(model, tokenizer, texts(4), progress=False)  # what benchmarks time keeps PyTorch's defaults
    assert seen[-1]


@pytest.mark.parametrize(
    "case,message",
    [
        ("empty-text", "has no text"),
        ("no-pooling", "no sentence-transformers pooling configuration"),
        ("classifier", "is a BertForSequenceClassification model (a task head), not a sentence-embedding model"),
        ("no-embedding-flag", "--text-file is unlabeled text for a sentence embedder: add --embedding"),
        ("task-loss", "a sentence embedding has no gold labels"),
    ],
)
def test_bad_embedding_input_gets_one_line_and_nothing_written(embedder_dir, text_file, tmp_path, capsys, case, message):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    bare = tmp_path / "bare"
    save_model(BertModel(BertConfig(vocab_size=120, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                    intermediate_size=64, max_position_embeddings=64)), make_tokenizer(), bare)
    output = tmp_path / "out"
    commands = {
        "empty-text": ["prune", "--model", str(embedder_dir), "--embedding", "--text-file", str(empty), "--macs", "0.5"],
        "no-pooling": ["prune", "--model", str(bare), "--embedding", "--text-file", str(text_file), "--macs", "0.5"],
        "classifier": ["prune", "--model", str(save_tiny_model(tmp_path / "classifier")), "--embedding",
                       "--text-file", str(text_file), "--macs", "0.5"],
        "no-embedding-flag": ["prune", "--model", str(embedder_dir), "--task", "stsb", "--text-file", str(text_file),
                              "--macs", "0.5"],
        "task-loss": ["distill", "--model", str(embedder_dir), "--embedding", "--text-file", str(text_file),
                      "--macs", "0.5", "--task-weight", "1"],
    }
    assert main([*commands[case], "--output", str(output)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not output.exists()


def test_without_text_an_embedder_calibrates_on_the_shipped_sample(embedder_dir, tmp_path, capsys):
    """A first run needs no data: no --text-file and no --task means the sample inside the package."""
    output = tmp_path / "quick"
    assert prune_cli(embedder_dir, output, "--macs", "0.5", "--max-length", "64") == 0
    notices = [line for line in capsys.readouterr().err.splitlines() if "calibrating on" in line]
    assert notices == [f"bertpress prune: no --text-file or --task: calibrating on {SAMPLE_NAME}"]
    report = json.loads((output / "report.json").read_text())
    assert report["calibration_source"] == SAMPLE_NAME and 0 < report["pruned"]["metrics"]["agreement"] <= 100


def test_the_shipped_sample_is_squad_text_with_its_attribution():
    texts = sample_texts()
    assert len(texts) == len(set(texts)) == 6000 and all(text.strip() for text in texts)
    attribution = (SAMPLE_FILE.parent / "ATTRIBUTION.md").read_text()
    assert "CC BY-SA 4.0" in attribution and "Rajpurkar" in attribution


@pytest.mark.integration
def test_minilm_as_sentence_transformers_scores_it(shared):
    """The default model: the same embeddings as sentence-transformers, and its STS-B score."""
    glue = shared / "data" / "glue"
    report = api.evaluate("minilm", "stsb", embedding=True, data=api.DataSource(data_dir=str(glue)), progress=False)
    assert report.metrics["spearman"] == pytest.approx(86.72, abs=0.05)
    sentences = [line.split("\t")[0] for line in (glue / "SST-2" / "dev.tsv").read_text().splitlines()[1:30]]
    ours = embed(api.load_embedder("minilm"), load_tokenizer("minilm"), sentences, progress=False)
    assert torch.allclose(ours, st_embeddings(Path(resolve_model("minilm")), sentences), atol=1e-5)
