"""Nothing is lost or silently wrong: outputs never replace what they should not, damaged
models and settings end in one BertpressError line instead of a traceback or a bad result."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from conftest import save_tiny_model, tiny_model, tokenizer_for

from bertpress.cli import main
from bertpress.data.sources import DataSource, load_split
from bertpress.data.tasks import get_task
from bertpress.errors import BertpressError
from bertpress.export.onnx import export_onnx
from bertpress.export.onnx_model import OnnxClassifier
from bertpress.measure.evaluate import evaluate
from bertpress.models.loading import load_model
from bertpress.models.saving import save_model
from bertpress.outputs import atomic_dir, check_output
from bertpress.train.finetune import TrainConfig


def _folder_with(path: Path, name: str = "keep.txt", text: str = "old") -> Path:
    path.mkdir(parents=True)
    (path / name).write_text(text)
    return path


def _one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert len(message.splitlines()) == 1, message
    return message


# --- output folders ---------------------------------------------------------------------------


def test_non_empty_folder_is_refused_and_left_alone(tmp_path):
    out = _folder_with(tmp_path / "out")
    with pytest.raises(BertpressError, match="exists and is not empty; pass --overwrite to replace it"):
        with atomic_dir(out) as staging:
            (staging / "new.txt").write_text("new")
    assert (out / "keep.txt").read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["out"]  # no staging folder was made


def test_overwrite_replaces_a_non_empty_folder(tmp_path):
    out = _folder_with(tmp_path / "out")
    with atomic_dir(out, overwrite=True) as staging:
        (staging / "new.txt").write_text("new")
    assert os.listdir(out) == ["new.txt"]
    assert sorted(os.listdir(tmp_path)) == ["out"]  # neither staging nor the old folder remains


def test_overwrite_keeps_the_old_folder_when_the_run_fails(tmp_path):
    out = _folder_with(tmp_path / "out")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_dir(out, overwrite=True) as staging:
            (staging / "new.txt").write_text("new")
            raise RuntimeError("boom")
    assert os.listdir(out) == ["keep.txt"]
    assert sorted(os.listdir(tmp_path)) == ["out"]


def test_the_input_folder_is_refused_even_with_overwrite(model_dir, tmp_path):
    before = sorted(os.listdir(model_dir))
    link = tmp_path / "link"
    link.symlink_to(model_dir)
    for output, given in [(model_dir, model_dir), (Path(os.path.relpath(model_dir)), model_dir), (link, model_dir),
                          (model_dir, link)]:
        with pytest.raises(BertpressError, match="is the input model's folder"):
            check_output(output, overwrite=True, inputs=[str(given)])
    with pytest.raises(BertpressError, match="is the input model's folder"):
        with atomic_dir(model_dir, overwrite=True, inputs=[model_dir]):
            pass
    assert sorted(os.listdir(model_dir)) == before


def test_a_folder_holding_the_input_is_refused(model_dir):
    with pytest.raises(BertpressError, match=r"is the input model's folder \(or holds it\); choose another"):
        check_output(model_dir.parent, overwrite=True, inputs=[model_dir])


def test_an_empty_folder_is_accepted(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    check_output(out)
    with atomic_dir(out) as staging:
        (staging / "new.txt").write_text("new")
    assert os.listdir(out) == ["new.txt"]


def test_hub_ids_and_aliases_are_not_local_inputs(tmp_path):
    out = _folder_with(tmp_path / "out")
    check_output(out, overwrite=True, inputs=["bert-base-uncased", "minilm", "org/model"])


def test_a_file_at_the_output_path_is_refused(tmp_path):
    out = tmp_path / "out"
    out.write_text("precious")
    for overwrite in (False, True):
        with pytest.raises(BertpressError, match="is a file, not a folder"):
            check_output(out, overwrite=overwrite)
    assert out.read_text() == "precious"


def test_a_file_in_the_way_of_the_output_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(BertpressError, match="file is a file"):
        check_output(tmp_path / "file" / "out")


# --- damaged models ---------------------------------------------------------------------------


def _damage(file: Path, how: str) -> None:
    """Cut a real file short, or replace it with random bytes."""
    file.write_bytes(file.read_bytes()[: file.stat().st_size // 2] if how == "truncated" else os.urandom(4096))


def _damaged_weights(tmp_path: Path, how: str) -> Path:
    folder = save_tiny_model(tmp_path / "model")
    _damage(folder / "model.safetensors", how)
    return folder


def _damaged_onnx(tmp_path: Path, how: str) -> Path:
    folder = tmp_path / "onnx"
    export_onnx(tiny_model(), folder, tokenizer=tokenizer_for("bert"))
    _damage(folder / "model.onnx", how)
    return folder


DAMAGE = ["truncated", "random"]


@pytest.mark.parametrize("how", DAMAGE)
def test_corrupt_safetensors_is_one_error_line(how, tmp_path):
    folder = _damaged_weights(tmp_path, how)
    with pytest.raises(BertpressError) as error:
        load_model(str(folder))
    message = _one_line(error)
    assert str(folder) in message and "weights file is damaged" in message


@pytest.mark.parametrize("how", DAMAGE)
def test_corrupt_onnx_is_one_error_line(how, tmp_path):
    folder = _damaged_onnx(tmp_path, how)
    for load in (load_model, OnnxClassifier.from_folder):
        with pytest.raises(BertpressError) as error:
            load(str(folder))
        assert "model.onnx is damaged or not an ONNX model" in _one_line(error)


def test_a_nan_weight_is_refused_by_name(tmp_path):
    model = tiny_model()
    with torch.no_grad():
        model.bert.encoder.layer[0].attention.self.query.weight[3, 5] = float("nan")
    save_model(model, tokenizer_for("bert"), tmp_path / "nan")
    with pytest.raises(BertpressError) as error:
        load_model(str(tmp_path / "nan"))
    assert _one_line(error) == (
        "model weights are not finite (NaN or inf) in bert.encoder.layer.0.attention.self.query.weight; "
        "the model is damaged"
    )


def test_non_finite_outputs_are_refused_by_evaluate(model_dir, rte_dir):
    task = get_task("rte")
    model = load_model(str(model_dir))
    with torch.no_grad():
        model.classifier.bias[0] = float("nan")
    dataset = load_split(task, "dev", DataSource(data_dir=str(rte_dir)))
    with pytest.raises(BertpressError, match=r"the model's outputs are not finite \(NaN or inf\) on rte dev"):
        evaluate(model, tokenizer_for("bert"), task, dataset, progress=False)


# --- training settings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "setting, message",
    [
        ({"lr": -1.0}, "--lr must be a positive number, not -1.0"),
        ({"lr": float("nan")}, "--lr must be a positive number, not nan"),
        ({"lr": float("inf")}, "--lr must be a positive number, not inf"),
        ({"epochs": 0}, "--epochs must be a whole number of at least 1, not 0"),
        ({"batch_size": 0}, "--batch-size must be a whole number of at least 1, not 0"),
        ({"max_length": 0}, "--max-length must be a whole number of at least 1, not 0"),
        ({"warmup_ratio": 1.0}, "warmup_ratio must be at least 0 and below 1, not 1.0"),
        ({"weight_decay": -0.1}, "weight_decay must be a non-negative number, not -0.1"),
        ({"max_grad_norm": 0.0}, "max_grad_norm must be a positive number, not 0.0"),
    ],
)
def test_bad_train_settings_are_refused(setting, message):
    with pytest.raises(BertpressError) as error:
        TrainConfig(**setting)
    assert _one_line(error) == message


# --- the command line -------------------------------------------------------------------------


def _fails_with_one_line(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    return err


def test_finetune_with_a_negative_lr_fails_cleanly(model_dir, rte_dir, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["finetune", "--model", str(model_dir), "--task", "rte", "--data-dir", str(rte_dir)]
    err = _fails_with_one_line([*argv, "--output", str(out), "--lr", "-1"], capsys)
    assert err == "bertpress finetune: error: --lr must be a positive number, not -1.0\n"
    assert not out.exists()


@pytest.mark.parametrize("damage", [_damaged_weights, _damaged_onnx])
def test_evaluate_on_a_damaged_model_fails_cleanly(damage, rte_dir, tmp_path, capsys):
    folder = damage(tmp_path, "truncated")
    argv = ["evaluate", "--model", str(folder), "--task", "rte", "--data-dir", str(rte_dir)]
    err = _fails_with_one_line([*argv, "--json", str(tmp_path / "out.json")], capsys)
    assert err.startswith("bertpress evaluate: error: ") and "damaged" in err
    assert not (tmp_path / "out.json").exists()
