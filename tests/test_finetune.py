"""Fine-tuning: a loadable folder that says its task, seeded repeatability, nothing half-written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import make_tokenizer, tiny_model
from datasets import Dataset

import bertpress.train.finetune as finetune_module
from bertpress.cli import main
from bertpress.data.sources import DataSource
from bertpress.data.tasks import get_task
from bertpress.errors import BertpressError
from bertpress.models.loading import load_model
from bertpress.train.finetune import TrainConfig, finetune, train
from bertpress.train.loop import parameter_groups

FAST = TrainConfig(epochs=2, batch_size=2, max_length=32, lr=1e-3)


@pytest.fixture
def base_dir(tmp_path) -> Path:
    """A tiny bare encoder (no classifier, like all-MiniLM-L6-v2) with the test tokenizer."""
    folder = tmp_path / "tiny-base"
    tiny_model("bert").bert.save_pretrained(folder)
    make_tokenizer().save_pretrained(folder)
    return folder


def _finetune(base_dir, glue_dir, output, task="rte", config=FAST, overwrite=False):
    report = finetune(str(base_dir), get_task(task), DataSource(data_dir=str(glue_dir)), output, config,
                      overwrite=overwrite, progress=False)
    return report.epochs


def test_writes_a_loadable_folder_that_names_its_labels(base_dir, glue_dir, tmp_path):
    history = _finetune(base_dir, glue_dir, tmp_path / "out")
    assert [(epoch.epoch, epoch.split) for epoch in history] == [(1, "dev"), (2, "dev")]
    config = load_model(str(tmp_path / "out")).config
    assert (config.num_labels, config.problem_type, config.finetuning_task) == (2, "single_label_classification", "rte")
    assert config.id2label == {0: "entailment", 1: "not_entailment"}
    assert config.label2id == {"entailment": 0, "not_entailment": 1}


def test_stsb_gets_a_regression_head(base_dir, glue_dir, tmp_path):
    history = _finetune(base_dir, glue_dir, tmp_path / "out", task="stsb", config=TrainConfig(epochs=1, max_length=32))
    config = load_model(str(tmp_path / "out")).config
    assert (config.num_labels, config.problem_type) == (1, "regression")
    assert set(history[0].metrics) == {"pearson", "spearman"}


def test_the_same_seed_gives_the_same_model(base_dir, glue_dir, tmp_path):
    def weights(output, seed):
        _finetune(base_dir, glue_dir, output, config=TrainConfig(**{**FAST.__dict__, "seed": seed}))
        return load_model(str(output)).state_dict()

    first, again, other = weights(tmp_path / "a", 0), weights(tmp_path / "b", 0), weights(tmp_path / "c", 1)
    assert all(torch.equal(first[name], again[name]) for name in first)
    assert not torch.equal(first["classifier.weight"], other["classifier.weight"])


def test_a_failure_while_saving_leaves_nothing(base_dir, glue_dir, tmp_path, monkeypatch):
    def save_half(model, tokenizer, folder):
        (Path(folder) / "config.json").write_text("{}")
        raise BertpressError("disk full")

    monkeypatch.setattr(finetune_module, "save_model", save_half)
    parent = tmp_path / "models"
    (parent / "old").mkdir(parents=True)
    (parent / "old" / "keep.txt").write_text("previous run")
    for output in (parent / "new", parent / "old"):
        with pytest.raises(BertpressError, match="disk full"):
            _finetune(base_dir, glue_dir, output, config=TrainConfig(epochs=1, max_length=32), overwrite=True)
    assert [path.relative_to(parent).as_posix() for path in parent.rglob("*")] == ["old", "old/keep.txt"]


def test_training_learns_an_easy_task():
    texts = ["it is good", "it is bad", "the cat is good", "the dog is bad"] * 8
    dataset = Dataset.from_dict({"text_a": texts, "label": [int("good" in text) for text in texts]})
    config = TrainConfig(epochs=8, batch_size=8, lr=3e-3)
    history = train(tiny_model("bert"), make_tokenizer(), get_task("sst2"), dataset, dataset, config, progress=False)
    assert history[-1].train_loss < 0.8 * history[0].train_loss
    assert history[-1].metrics == {"accuracy": 100.0}


def test_biases_and_layer_norms_are_not_decayed():
    model = tiny_model("bert")
    decayed, kept = parameter_groups(model, 0.01)
    names = {id(p): name for name, p in model.named_parameters()}
    assert decayed["weight_decay"] == 0.01 and kept["weight_decay"] == 0.0
    assert all(names[id(p)].endswith("bias") or "LayerNorm" in names[id(p)] for p in kept["params"])
    assert "bert.embeddings.word_embeddings.weight" in {names[id(p)] for p in decayed["params"]}


def test_cli_prints_a_line_per_epoch_and_writes_json(base_dir, glue_dir, tmp_path, capsys):
    out, report = tmp_path / "out", tmp_path / "finetune.json"
    args = ["finetune", "--model", str(base_dir), "--task", "sst2", "--data-dir", str(glue_dir), "--output", str(out)]
    assert main([*args, "--epochs", "2", "--batch-size", "2", "--max-length", "16", "--json", str(report)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines if ": train loss" in line] == ["epoch 1", "epoch 2"]
    result = json.loads(report.read_text())
    assert (result["task"], result["config"]["epochs"], len(result["epochs"])) == ("sst2", 2, 2)
    assert list(result["epochs"][0]) == ["epoch", "train_loss", "split", "metrics"]


@pytest.mark.integration
def test_minilm_smoke_finetune_then_evaluate(shared, tmp_path):
    glue = str(shared / "data" / "glue")
    out, report = tmp_path / "rte-ft", tmp_path / "eval.json"
    common = ["--task", "rte", "--data-dir", glue, "--max-length", "64"]
    assert main(["finetune", *common, "--output", str(out), "--epochs", "1", "--max-train-samples", "64"]) == 0
    assert main(["evaluate", "--model", str(out), *common, "--json", str(report)]) == 0
    assert json.loads(report.read_text())["num_examples"] == 277
