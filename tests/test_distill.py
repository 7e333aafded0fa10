"""Distillation on tiny models: the objective, gradual recipes, the CLI and its report, checkpoints
and resuming, unlabeled text, bad input, and two processes computing what one computes."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import FAST_LATENCY, save_tiny_model, tiny_model, tokenizer_for
from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

from bertpress import api, load
from bertpress.cli import main
from bertpress.distill import layer_map
from bertpress.models.task_heads import Regression, SequenceClassification
from bertpress.models.saving import save_model
from bertpress.steps import checkpoints as checkpoints_module
from bertpress.steps.gradual import stages_to


def distill_cli(model_dir, rte_dir, output, *extra) -> int:
    return main(
        ["distill", "--model", str(model_dir), "--task", "rte", "--data-dir", str(rte_dir), "--output", str(output),
         "--num-samples", "32", "--train-batch-size", "8", "--epochs", "2", *FAST_LATENCY, *extra]
    )


def state(path: Path) -> dict[str, torch.Tensor]:
    return load(str(path)).state_dict()


def assert_same_weights(a: dict, b: dict, tolerance: float = 0.0) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].shape == b[name].shape, name
        assert (a[name].float() - b[name].float()).abs().max() <= tolerance, name


# --- the objective ---------------------------------------------------------------------------------


def test_layer_map_is_uniform_and_the_identity_at_equal_depth():
    assert layer_map(6, 6) == [0, 1, 2, 3, 4, 5]
    assert layer_map(3, 6) == [1, 3, 5]
    assert layer_map(4, 12) == [2, 5, 8, 11]
    assert layer_map(1, 6) == [5]


def test_soft_losses_vanish_at_the_teacher_and_unlabeled_examples_cost_nothing():
    logits = torch.tensor([[2.0, -1.0], [0.5, 0.0]])
    task_head = SequenceClassification(2)
    assert task_head.soft_losses(logits, logits, 2.0).abs().max() < 1e-6
    assert (task_head.soft_losses(logits, logits.flip(-1), 2.0) > 0).all()
    losses = task_head.example_losses(logits, torch.tensor([0, task_head.unlabeled]))
    assert losses[0] > 0 and losses[1] == 0
    regression = Regression(1)
    scores = torch.tensor([[1.0], [2.0]])
    assert regression.example_losses(scores, torch.tensor([0.0, regression.unlabeled])).tolist() == [1.0, 0.0]
    assert regression.soft_losses(scores, torch.tensor([[1.5], [2.0]]), 2.0).tolist() == [0.25, 0.0]


def test_each_loss_term_vanishes_for_a_copy_of_the_teacher_and_widths_may_differ():
    import copy

    from bertpress.distill import DistillWeights, Distiller
    from bertpress.steps.distill import _attention_outputs

    teacher = tiny_model()
    ids = torch.randint(5, 100, (2, 8))
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    weights = DistillWeights(logits=1.0, hidden=1.0, attention=1.0, task=1.0)
    copy_of_teacher = Distiller(copy.deepcopy(teacher), teacher, SequenceClassification(2), weights).eval()
    with _attention_outputs(True, teacher, copy_of_teacher.student), torch.no_grad():
        targets = teacher(**batch, output_hidden_states=True, output_attentions=True)
        _, parts = copy_of_teacher(batch, torch.tensor([0, 1]), targets.logits, targets)
    assert set(parts) == {"logits", "hidden", "attention", "task"}
    assert parts["logits"] < 1e-6 and parts["hidden"] < 1e-10 and parts["attention"] < 1e-6

    wider = BertForSequenceClassification(BertConfig(vocab_size=120, hidden_size=48, num_hidden_layers=1,
                                                     num_attention_heads=4, intermediate_size=64))
    distiller = Distiller(wider, teacher, SequenceClassification(2), DistillWeights(hidden=1.0))
    assert distiller.mapping == [2] and distiller.projection.weight.shape == (32, 48)
    targets = teacher(**batch, output_hidden_states=True)
    loss, parts = distiller(batch, torch.tensor([0, 1]), targets.logits.detach(), targets)
    loss.backward()
    assert parts["hidden"] > 0 and distiller.projection.weight.grad is not None


def test_gradual_recipes_pass_through_the_stages_and_distill_between_them():
    assert stages_to(0.25) == [0.7, 0.5, 0.35, 0.25]
    assert stages_to(0.6) == [0.7, 0.6]
    assert stages_to(0.1) == [0.7, 0.5, 0.35, 0.25, 0.15, 0.1]
    recipe = api.gradual_recipe(api.PruneStep(macs=0.35), api.DistillStep(epochs=4), stage_epochs=2)
    assert [(s.name, getattr(s, "macs", None) or s.epochs) for s in recipe.steps] == [
        ("prune", 0.7), ("distill", 2), ("prune", 0.5), ("distill", 2), ("prune", 0.35), ("distill", 4)]
    assert [s.params for s in api.gradual_recipe(api.PruneStep(params=0.5)).steps] == [0.7, 0.5]
    with pytest.raises(api.BertpressError, match="ratio budget"):
        api.gradual_recipe(api.PruneStep(latency_ms=3.0))


def test_a_distill_step_round_trips_through_a_recipe_file(tmp_path):
    recipe = api.Recipe.of(api.PruneStep(macs=0.5), api.DistillStep(epochs=2, hidden=0.5, unlabeled_columns=("a", "b")))
    recipe.save(tmp_path / "r.yaml")
    assert api.Recipe.load(tmp_path / "r.yaml") == recipe
    with pytest.raises(api.BertpressError, match="epochs must be at least 1"):
        api.Recipe.from_dict({"steps": [{"distill": {"epochs": 0}}]})
    with pytest.raises(api.BertpressError, match="not all zero"):
        api.DistillStep(logits=0.0, hidden=0.0)


# --- end to end -----------------------------------------------------------------------------------


def test_distill_writes_a_prune_report_with_a_training_curve(model_dir, rte_dir, tmp_path, capsys):
    output = tmp_path / "student"
    assert distill_cli(model_dir, rte_dir, output, "--macs", "0.5", "--lr", "1e-3", "--hidden-weight", "0.5",
                       "--attention-weight", "0.5") == 0
    report = json.loads((output / "report.json").read_text())
    for key in ("baseline", "pruned", "macs_ratio", "params_ratio", "speedup", "heads_per_layer", "training"):
        assert key in report
    assert report["macs_ratio"] <= 0.5 * 1.005
    assert [s["name"] for s in report["steps"]] == ["prune", "distill"]
    assert [epoch["epoch"] for epoch in report["training"]] == [1, 2]
    assert {"loss", "logits", "hidden", "attention", "dev_accuracy"} <= set(report["training"][0])
    assert report["training"][1]["logits"] < report["training"][0]["logits"]  # the student comes closer
    assert report["timings_s"]["distill"] > 0
    assert "training" in capsys.readouterr().out
    assert load(str(output)).config.bertpress  # a pruned student that reloads
    assert not Path(f"{output}.checkpoints").exists()  # the finished run's checkpoints are gone


def test_the_same_seed_gives_the_same_student(model_dir, rte_dir, tmp_path):
    for name in ("a", "b"):
        assert distill_cli(model_dir, rte_dir, tmp_path / name, "--macs", "0.6", "--epochs", "1") == 0
    assert_same_weights(state(tmp_path / "a"), state(tmp_path / "b"))


def test_recomputed_layers_train_the_same_student(model_dir, rte_dir, tmp_path):
    """Activation checkpointing trades memory for time, not the result: dropout draws the same masks again."""
    for name, extra in (("kept", ()), ("recomputed", ("--recompute-layers",))):
        assert distill_cli(model_dir, rte_dir, tmp_path / name, "--macs", "0.6", "--epochs", "1", "--hidden-weight", "0.5", *extra) == 0
    assert_same_weights(state(tmp_path / "kept"), state(tmp_path / "recomputed"), tolerance=1e-6)
    report = json.loads((tmp_path / "recomputed" / "report.json").read_text())
    assert next(s for s in report["steps"] if s["name"] == "distill")["config"]["recompute_layers"] is True


def test_gradual_and_layer_drop_students(model_dir, rte_dir, tmp_path):
    assert distill_cli(model_dir, rte_dir, tmp_path / "g", "--macs", "0.5", "--gradual", "--epochs", "1") == 0
    report = json.loads((tmp_path / "g" / "report.json").read_text())
    assert [(s["name"], s["config"].get("macs")) for s in report["steps"]] == [
        ("prune", 0.7), ("distill", None), ("prune", 0.5), ("distill", None)]
    assert report["macs_ratio"] <= 0.5 * 1.005
    assert distill_cli(model_dir, rte_dir, tmp_path / "l", "--drop-layers", "1", "--epochs", "1") == 0
    report = json.loads((tmp_path / "l" / "report.json").read_text())
    assert report["dropped_layers"] == [1] and len(report["heads_per_layer"]) == 2  # alternate: the middle one


def test_the_teacher_scores_each_example_once_and_the_student_is_the_same(model_dir, rte_dir, tmp_path, monkeypatch):
    """Three epochs over two stages of a gradual recipe: the teacher sees each of the 64 examples
    once; reading its scores back trains the student that running it every time trains."""
    from bertpress.distill import TeacherScores
    from bertpress.steps import distill as distill_step

    stored = []
    original_store = TeacherScores.store
    monkeypatch.setattr(TeacherScores, "store", lambda self, examples, scores: (
        stored.extend(examples.tolist()), original_store(self, examples, scores)))
    arguments = ("--macs", "0.5", "--gradual", "--epochs", "2")
    assert distill_cli(model_dir, rte_dir, tmp_path / "kept", *arguments) == 0
    assert sorted(stored) == list(range(64))

    monkeypatch.setattr(distill_step, "_teacher_scores", lambda *args: None)
    assert distill_cli(model_dir, rte_dir, tmp_path / "every-time", *arguments) == 0
    assert_same_weights(state(tmp_path / "kept"), state(tmp_path / "every-time"), tolerance=1e-5)


def test_a_retraining_free_gradual_prune(model_dir, rte_dir, tmp_path):
    from conftest import run_prune

    assert run_prune(model_dir, rte_dir, tmp_path / "p", "--macs", "0.5", "--gradual") == 0
    report = json.loads((tmp_path / "p" / "report.json").read_text())
    assert [s["config"]["macs"] for s in report["steps"]] == [0.7, 0.5]
    assert report["steps"][0]["macs"] > report["steps"][1]["macs"]
    assert report["macs_ratio"] <= 0.5 * 1.005


def test_unlabeled_text_joins_the_training_set(model_dir, rte_dir, tmp_path):
    lines = tmp_path / "extra.txt"
    lines.write_text("the cat sat\tthe dog sat\n\nit is good\tit is bad\na mat is not a dog\tthe mat\n")
    assert distill_cli(model_dir, rte_dir, tmp_path / "s", "--macs", "0.6", "--epochs", "1",
                       "--unlabeled-file", str(lines), "--task-weight", "1") == 0
    details = json.loads((tmp_path / "s" / "report.json").read_text())["steps"][1]["details"]
    assert (details["examples"], details["unlabeled_examples"]) == (64, 3)

    table = tmp_path / "extra.csv"
    table.write_text("premise,hypothesis\nthe cat sat,the dog sat\n")
    assert distill_cli(model_dir, rte_dir, tmp_path / "t", "--macs", "0.6", "--epochs", "1", "--unlabeled-file",
                       str(table), "--unlabeled-columns", "premise,hypothesis") == 0


# --- checkpoints ----------------------------------------------------------------------------------


def test_an_interrupted_run_resumes_to_the_same_student(model_dir, rte_dir, tmp_path, monkeypatch, capsys):
    assert distill_cli(model_dir, rte_dir, tmp_path / "whole", "--macs", "0.6", "--epochs", "3") == 0

    original_save = checkpoints_module.Checkpoints.save

    def save_then_stop(self, state, trainer, epoch, curve, records):
        original_save(self, state, trainer, epoch, curve, records)
        if epoch == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(checkpoints_module.Checkpoints, "save", save_then_stop)
    output = tmp_path / "student"
    assert distill_cli(model_dir, rte_dir, output, "--macs", "0.6", "--epochs", "3") == 130
    folder = Path(f"{output}.checkpoints")
    assert f"--resume {folder}" in capsys.readouterr().err
    assert not output.exists() and (folder / "latest" / "progress.json").is_file()

    # the same command again refuses to start over on top of the checkpoints
    assert distill_cli(model_dir, rte_dir, output, "--macs", "0.6", "--epochs", "3") == 2
    assert "--resume" in capsys.readouterr().err

    monkeypatch.setattr(checkpoints_module.Checkpoints, "save", original_save)
    assert distill_cli(model_dir, rte_dir, output, "--macs", "0.6", "--epochs", "3", "--resume", str(folder)) == 0
    assert_same_weights(state(output), state(tmp_path / "whole"), 1e-6)
    resumed = json.loads((output / "report.json").read_text())
    whole = json.loads((tmp_path / "whole" / "report.json").read_text())
    assert [e["epoch"] for e in resumed["training"]] == [1, 2, 3]
    assert resumed["pruned"]["metrics"] == whole["pruned"]["metrics"]
    assert resumed["pruned"]["macs"] == whole["pruned"]["macs"]
    assert not folder.exists()


def test_resume_refuses_the_checkpoints_of_another_run(model_dir, rte_dir, tmp_path, monkeypatch, capsys):
    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    original_save = checkpoints_module.Checkpoints.save
    monkeypatch.setattr(checkpoints_module.Checkpoints, "save", lambda *a: (original_save(*a), stop()))
    assert distill_cli(model_dir, rte_dir, tmp_path / "a", "--macs", "0.6") == 130
    monkeypatch.undo()
    capsys.readouterr()
    folder = tmp_path / "a.checkpoints"
    assert distill_cli(model_dir, rte_dir, tmp_path / "b", "--macs", "0.5", "--resume", str(folder)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bertpress distill: error:") and "another run (its recipe differs" in err
    assert len(err.splitlines()) == 1 and not (tmp_path / "b").exists()


# --- bad input ------------------------------------------------------------------------------------


def other_vocabulary_model(folder: Path) -> Path:
    folder.mkdir()
    model = BertForSequenceClassification(BertConfig(vocab_size=130, hidden_size=32, num_hidden_layers=2,
                                                     num_attention_heads=4, intermediate_size=64))
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "entirely", "other", "words"]
    save_model(model, BertTokenizer(vocab={w: i for i, w in enumerate(words)}), folder)
    return folder


@pytest.mark.parametrize(
    "teacher, message",
    [
        ("three-labels", "teacher .* has 3 output label\\(s\\), the student 2"),
        ("other-vocabulary", "another vocabulary than the student"),
        ("missing", "model folder not found"),
    ],
)
def test_a_teacher_that_cannot_teach_is_refused_before_any_work(model_dir, rte_dir, tmp_path, capsys, teacher, message):
    import re

    folders = {
        "three-labels": lambda: save_tiny_model(tmp_path / "three", num_labels=3),
        "other-vocabulary": lambda: other_vocabulary_model(tmp_path / "vocab"),
        "missing": lambda: tmp_path / "nowhere",
    }
    output = tmp_path / "student"
    assert distill_cli(model_dir, rte_dir, output, "--macs", "0.5", "--teacher", str(folders[teacher]())) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.search(message, err), err
    assert not output.exists() and not Path(f"{output}.checkpoints").exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--macs", "0.5", "--epochs", "0"], "--epochs: expected a whole number of at least 1"),
        ([], "give a budget"),
        (["--macs", "0.5", "--unlabeled-file", "nowhere.txt"], "unlabeled file not found"),
        (["--drop-layers", "1", "--gradual"], "gradual prune needs a budget"),
    ],
)
def test_bad_distill_input_gets_one_line_and_nothing_written(model_dir, rte_dir, tmp_path, capsys, extra, message):
    output = tmp_path / "student"
    try:
        code = distill_cli(model_dir, rte_dir, output, *extra)
    except SystemExit as exited:  # argparse's usage errors
        code = exited.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not output.exists()


def test_an_unlabeled_line_without_its_pair_is_refused(model_dir, rte_dir, tmp_path, capsys):
    lines = tmp_path / "extra.txt"
    lines.write_text("the cat sat\tthe dog\nonly one text\n")
    assert distill_cli(model_dir, rte_dir, tmp_path / "s", "--macs", "0.5", "--unlabeled-file", str(lines)) == 2
    assert "example 2 has 1 tab-separated text(s), the task takes 2" in capsys.readouterr().err


# --- data parallel ----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_processes_train_the_same_student_as_one(rte_dir, tmp_path):
    """``accelerate launch --num_processes 2 --cpu`` splits each global batch: the same updates.

    Dropout is off (each process would draw its own masks); 64 examples in batches of 8 divide
    evenly, so no batch is filled up. The prune before it runs its Fisher pass split too.
    """
    model = tiny_model()
    model.config.hidden_dropout_prob = model.config.attention_probs_dropout_prob = 0.0
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    save_model(BertForSequenceClassification(model.config).eval(), tokenizer_for("bert"), model_dir)
    arguments = ["distill", "--model", str(model_dir), "--task", "rte", "--data-dir", str(rte_dir), "--macs", "0.6",
                 "--num-samples", "32", "--train-batch-size", "8", "--epochs", "2", "--lr", "1e-3", *FAST_LATENCY]
    assert main([*arguments, "--output", str(tmp_path / "one")]) == 0
    launcher = Path(sys.executable).with_name("accelerate")
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    command = [str(launcher), "launch", "--num_processes", "2", "--num_machines", "1", "--cpu", "--mixed_precision",
               "no", "--dynamo_backend", "no", "--main_process_port", str(_free_port()), "-m", "bertpress",
               *arguments, "--output", str(tmp_path / "two")]
    done = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert_same_weights(state(tmp_path / "two"), state(tmp_path / "one"), 1e-5)
    one = json.loads((tmp_path / "one" / "report.json").read_text())
    two = json.loads((tmp_path / "two" / "report.json").read_text())
    assert two["heads_per_layer"] == one["heads_per_layer"] and two["neurons_per_layer"] == one["neurons_per_layer"]
    shutil.rmtree(tmp_path / "two")
