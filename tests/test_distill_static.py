"""Static distillation: token vectors as defined (the model on each token alone, PCA, weights),
a folder sentence-transformers loads with the vectors bertpress computes, a repeatable run,
evaluation like any embedder, recipes, and the inputs that are refused."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import torch
from conftest import make_tokenizer
from sentence_transformers import SentenceTransformer
from test_embeddings import save_embedder_folder, squad_file, texts

from bertpress import api
from bertpress.cli import main
from bertpress.distill.static import SIF_COEFFICIENTS, StaticSettings, distill_static, token_weights
from bertpress.measure.embeddings import embed
from bertpress.models.static_embedder import load_static
from bertpress.steps import Recipe
from bertpress.steps.distill_static import DistillStaticStep

DIMS = 8


@pytest.fixture
def embedder_dir(tmp_path) -> Path:
    return save_embedder_folder(tmp_path / "embedder")


@pytest.fixture
def text_file(tmp_path) -> Path:
    path = tmp_path / "texts.txt"
    path.write_text("\n".join(texts(64)) + "\n")
    return path


def distill_cli(model, output, *extra) -> int:
    return main(["distill", "--static", "--model", str(model), "--output", str(output), "--static-dims", str(DIMS), *extra])


def test_a_token_vector_is_the_weighted_pca_of_the_model_on_that_token_alone(embedder_dir):
    model, tokenizer = api.load_embedder(str(embedder_dir)), make_tokenizer()
    static, projection = distill_static(model, tokenizer, StaticSettings(dims=DIMS), progress=False)
    vocabulary = len(tokenizer.get_vocab())
    alone = torch.stack([  # [CLS] t [SEP], mean-pooled, not normalised
        model.encoder(input_ids=torch.tensor([[2, token, 3]])).last_hidden_state.mean(1)[0] for token in range(vocabulary)
    ])
    centred = alone.double() - alone.double().mean(0)
    expected_space = torch.linalg.svd(centred, full_matrices=False).Vh[:DIMS].T.float()
    # The same subspace as an SVD's, each direction signed as fit_pca says, weighted by rank.
    assert torch.allclose((projection.components.T @ expected_space).abs(), torch.eye(DIMS), atol=1e-4)
    weights = token_weights(vocabulary, StaticSettings())
    expected = (alone - alone.mean(0)) @ projection.components * weights[:, None]
    assert torch.allclose(static.embedding.weight, expected, atol=1e-5)
    assert weights[0] < weights[-1]  # the first ranks are the frequent tokens: weighted down


def test_the_folder_loads_in_sentence_transformers_with_the_vectors_bertpress_computes(embedder_dir, tmp_path):
    assert distill_cli(embedder_dir, tmp_path / "static") == 0
    modules = json.loads((tmp_path / "static" / "modules.json").read_text())
    assert modules[0]["type"].endswith("StaticEmbedding") and modules[1]["type"].endswith("Normalize")
    sentences = [*texts(12, seed=5), ""]
    theirs = SentenceTransformer(str(tmp_path / "static"), device="cpu").encode(sentences, convert_to_tensor=True)
    loaded, tokenizer = load_static(str(tmp_path / "static"))
    assert torch.allclose(embed(loaded, tokenizer, sentences, batch_size=5, progress=False), theirs, atol=1e-6)
    # The original tokenizer gives the same vectors: the [CLS] and [SEP] it adds are left out.
    assert torch.allclose(embed(loaded, make_tokenizer(), sentences, progress=False), theirs, atol=1e-6)
    assert Recipe.load(tmp_path / "static" / "recipe.yaml").steps == (DistillStaticStep(dims=DIMS),)


def test_texts_embedded_without_padding_equal_the_padded_forward(embedder_dir, tmp_path):
    assert distill_cli(embedder_dir, tmp_path / "static") == 0
    loaded, own_tokenizer = load_static(str(tmp_path / "static"))
    sentences = [*texts(20, seed=3), "", "a [SEP] b"]  # an empty text and one spelling out a special token
    for tokenizer in (own_tokenizer, make_tokenizer()):
        for max_length in (5, 128):  # 5: most texts cut
            padded = tokenizer(sentences, truncation=True, max_length=max_length, padding=True, return_tensors="pt")
            expected = loaded(**padded).sentence_embedding
            bagged = loaded.embed_texts(tokenizer, sentences, max_length, chunk=7)  # chunks cut the list too
            assert torch.allclose(bagged, expected, atol=1e-6)


def test_a_run_repeats_exactly_and_training_on_text_moves_towards_the_model(embedder_dir, text_file, tmp_path):
    for name in ("first", "second"):
        assert distill_cli(embedder_dir, tmp_path / name, "--text-file", str(text_file), "--static-epochs", "3") == 0
    first, second = (load_static(str(tmp_path / name))[0].embedding.weight for name in ("first", "second"))
    assert torch.equal(first, second)
    curve = json.loads((tmp_path / "first" / "report.json").read_text())["curve"]
    assert curve[-1]["loss"] < curve[0]["loss"]


def test_with_text_a_token_is_weighted_by_how_often_the_text_uses_it(embedder_dir, text_file, tmp_path):
    model, tokenizer = api.load_embedder(str(embedder_dir)), make_tokenizer()
    lines = text_file.read_text().split("\n")[:-1]
    counted, _ = distill_static(model, tokenizer, StaticSettings(dims=DIMS, weighting="counts"), lines, progress=False)
    plain, _ = distill_static(model, tokenizer, StaticSettings(dims=DIMS, weighting="none"), progress=False)
    counts = Counter(i for ids in tokenizer(lines, add_special_tokens=False)["input_ids"] for i in ids)
    probability = torch.tensor([counts[i] for i in range(len(tokenizer.get_vocab()))], dtype=torch.float64) / counts.total()
    weights = (SIF_COEFFICIENTS["counts"] / (SIF_COEFFICIENTS["counts"] + probability)).float()
    assert torch.allclose(counted.embedding.weight, plain.embedding.weight * weights[:, None], atol=1e-6)
    # From the command line, text means counted weights (and no training unless asked)
    assert distill_cli(embedder_dir, tmp_path / "counted", "--text-file", str(text_file)) == 0
    report = json.loads((tmp_path / "counted" / "report.json").read_text())
    assert report["step"].get("epochs", 0) == 0 and report["curve"] is None
    with pytest.raises(api.BertpressError, match="need text"):
        DistillStaticStep(weighting="counts")


def test_evaluated_like_any_embedder(embedder_dir, glue_dir, tmp_path):
    assert distill_cli(embedder_dir, tmp_path / "static") == 0
    squad = squad_file(tmp_path)
    result = tmp_path / "retrieval.json"
    args = ["evaluate", "--model", str(tmp_path / "static"), "--task", "squad-retrieval", "--data-file", str(squad)]
    assert main([*args, "--json", str(result)]) == 0
    assert "ndcg@10" in json.loads(result.read_text())["metrics"]
    sts = tmp_path / "sts.json"
    args = ["evaluate", "--model", str(tmp_path / "static"), "--task", "stsb", "--data-dir", str(glue_dir)]
    assert main([*args, "--json", str(sts)]) == 0
    assert "spearman" in json.loads(sts.read_text())["metrics"]


def test_a_recipe_holds_the_step_last_and_alone():
    recipe = Recipe.from_dict({"steps": [{"distill_static": {"dims": 64, "weighting": "none"}}]})
    assert recipe.steps == (DistillStaticStep(dims=64, weighting="none"),)
    with pytest.raises(api.BertpressError, match="does not combine with prune"):
        Recipe.from_dict({"steps": [{"prune": {"macs": 0.5}}, {"distill_static": {}}]})
    with pytest.raises(api.BertpressError, match="must be the recipe's last step"):
        Recipe.from_dict({"steps": [{"distill_static": {}}, {"quantize": {"backend": "torch"}}]})


class _NoVocabulary:
    """A tokenizer that cannot list its vocabulary (as some custom tokenizers cannot)."""

    def get_vocab(self):
        raise NotImplementedError


@pytest.mark.parametrize(
    "case,message",
    [
        ("no-tokenizer", "has no tokenizer"),
        ("no-vocabulary", "its tokenizer has no vocabulary to list"),
        ("with-prune", "--static makes token vectors of the whole model: it does not combine with a budget"),
        ("too-many-dims", "static dims must be between 1 and"),
    ],
)
def test_bad_input_gets_one_line_exit_2_and_nothing_written(embedder_dir, tmp_path, capsys, monkeypatch, case, message):
    extra = []
    if case == "no-tokenizer":
        for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
            (embedder_dir / name).unlink(missing_ok=True)
    if case == "no-vocabulary":
        monkeypatch.setattr("bertpress.steps.distill_static.load_tokenizer", lambda model: _NoVocabulary())
    if case == "with-prune":
        extra = ["--macs", "0.5"]
    output = tmp_path / "out"
    command = ["distill", "--static", "--model", str(embedder_dir), "--output", str(output), *extra]
    if case == "too-many-dims":
        command += ["--static-dims", "33"]
    assert main(command) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not output.exists()


def test_compress_runs_the_step_and_saves_the_static_model(embedder_dir, text_file, tmp_path):
    setup = api.EmbeddingSetup(text_file=str(text_file))
    report = api.compress(
        str(embedder_dir), None, tmp_path / "out", recipe=Recipe.of(DistillStaticStep(dims=DIMS)), embedding=setup,
        calibration=api.Calibration(num_samples=32), latency=api.LatencySetting(batch_size=2, seq_length=8, min_run_time=0.05),
        progress=False,
    )
    assert report.steps[-1].details["dims"] == DIMS and "agreement" in report.pruned.metrics
    theirs = SentenceTransformer(str(tmp_path / "out"), device="cpu").encode(texts(4), convert_to_tensor=True)
    ours = embed(load_static(str(tmp_path / "out"))[0], make_tokenizer(), texts(4), progress=False)
    assert torch.allclose(ours, theirs, atol=1e-6)
