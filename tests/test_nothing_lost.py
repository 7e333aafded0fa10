"""Nothing is lost or silently wrong: outputs never replace what they should not, damaged
models and settings end in one BertpressError line instead of a traceback or a bad result."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from conftest import FAST_LATENCY, save_tiny_model, stop_after_first_checkpoint, tiny_model, tokenizer_for

from bertpress import api
from bertpress.cli import main
from bertpress.data.sources import DataSource, load_split
from bertpress.data.tasks import GLUE_DIR_ENV, get_task
from bertpress.distill import check_teacher
from bertpress.errors import BertpressError
from bertpress.export.onnx import export_onnx
from bertpress.runtime.loading import load_any, load_exported
from bertpress.data.squad import retrieval_set
from bertpress.measure.evaluate import evaluate
from bertpress.models.task_heads import SequenceClassification
from bertpress.models.loading import load_model, load_tokenizer
from bertpress.models.positions import usable_positions
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
        with pytest.raises(BertpressError, match="is, or holds, input"):
            check_output(output, overwrite=True, inputs=[str(given)])
    with pytest.raises(BertpressError, match="is, or holds, input"):
        with atomic_dir(model_dir, overwrite=True, inputs=[model_dir]):
            pass
    assert sorted(os.listdir(model_dir)) == before


def test_a_folder_holding_the_input_is_refused(model_dir):
    with pytest.raises(BertpressError) as error:
        check_output(model_dir.parent, overwrite=True, inputs=[model_dir])
    assert _one_line(error) == (
        f"output folder {model_dir.parent} is, or holds, input {model_dir.resolve()}: replacing it would delete "
        "that input; choose another"
    )


def test_a_non_empty_folder_inside_an_input_is_refused_a_new_one_is_not(tmp_path):
    data = _folder_with(tmp_path / "glue")
    inside = _folder_with(data / "RTE", "train.tsv")
    with pytest.raises(BertpressError, match=r"lies inside input .*glue: replacing it would delete part of that input"):
        check_output(inside, overwrite=True, inputs=[data])
    check_output(data / "new", inputs=[data])  # writing a new folder inside the data deletes nothing
    assert (inside / "train.tsv").read_text() == "old"


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
    for load in (load_any, load_exported):
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


# --- every input is protected -------------------------------------------------------------------


def _tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes: what a refused run must leave as it was."""
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


TEXTS = "the cat sat on the mat\nthe dog is good\n"


def _inputs(root: Path, rte_dir: Path) -> dict[str, Path]:
    """One input of each kind, each in a folder of its own under ``root`` (kind -> path)."""
    paths = {
        "glue": rte_dir,
        "data": shutil.copytree(rte_dir, root / "data" / "glue"),
        "files": shutil.copytree(rte_dir / "RTE", root / "files"),
        "teacher": save_tiny_model(root / "teacher" / "model"),
    }
    for kind, name, text in [("text", "texts.txt", TEXTS), ("unlabeled", "more.txt", TEXTS),
                             ("recipe", "recipe.yaml", "steps:\n- prune: {macs: 0.5}\n")]:
        paths[kind] = root / kind / name
        paths[kind].parent.mkdir(parents=True)
        paths[kind].write_text(text)
    return paths


# A writing command (its --model aside), and the kind of input whose folder its --output names.
INPUT_CASES = {
    "data-dir": ("prune --task rte --data-dir {data} --macs 0.5", "data"),
    "glue-dir-from-the-environment": ("prune --task rte --macs 0.5", "data"),
    "train-and-dev-files": ("prune --task rte --train-file {files}/train.tsv --dev-file {files}/dev.tsv --macs 0.5",
                            "files"),
    "text-file": ("prune --embedding --text-file {text} --macs 0.5", "text"),
    "teacher": ("distill --task rte --data-dir {glue} --teacher {teacher}", "teacher"),
    "unlabeled-file": ("distill --task rte --data-dir {glue} --macs 0.5 --unlabeled-file {unlabeled}", "unlabeled"),
    "recipe": ("compress --task rte --data-dir {glue} --recipe {recipe}", "recipe"),
    "finetune-data-dir": ("finetune --task rte --data-dir {data}", "data"),
}


@pytest.mark.parametrize("case", INPUT_CASES)
def test_no_output_replaces_an_input_even_with_overwrite(case, model_dir, rte_dir, tmp_path, monkeypatch, capsys):
    paths = _inputs(tmp_path / "inputs", rte_dir)
    if case == "glue-dir-from-the-environment":
        monkeypatch.setenv(GLUE_DIR_ENV, str(paths["data"]))
    command, kind = INPUT_CASES[case]
    name, *options = command.format(**paths).split()
    holder = tmp_path / "inputs" / kind
    before = _tree(holder)
    argv = [name, "--model", str(model_dir), *options, "--output", str(holder), "--overwrite"]
    assert f"output folder {holder} is, or holds, input {holder.resolve()}" in _fails_with_one_line(argv, capsys)
    assert _tree(holder) == before


# --- a model without a tokenizer ----------------------------------------------------------------


def test_a_model_without_a_tokenizer_is_refused_wherever_text_is_tokenized(rte_dir, tmp_path, capsys):
    folder = tmp_path / "no-tokenizer"
    folder.mkdir()
    save_model(tiny_model(), None, folder)  # config and weights only: transformers would make an empty tokenizer
    with pytest.raises(BertpressError) as error:
        load_tokenizer(str(folder))
    assert _one_line(error) == (
        f"{folder} has no tokenizer (its vocabulary would hold only special tokens, so every word would be "
        "unknown); copy the tokenizer files of the model it came from into it"
    )
    data = ["--model", str(folder), "--task", "rte", "--data-dir", str(rte_dir)]
    output = tmp_path / "out"
    for argv in (["evaluate", *data], ["prune", *data, "--macs", "0.5", "--output", str(output)]):
        assert "has no tokenizer" in _fails_with_one_line(argv, capsys)
    assert not output.exists()
    # export alone works without one, and says so
    assert main(["export", "--model", str(folder), "--output", str(output)]) == 0
    assert "the model folder has no tokenizer; the export has none either" in capsys.readouterr().out
    assert not (output / "tokenizer.json").exists()


# --- a teacher of another task ------------------------------------------------------------------


def _config(task: str | None = None, labels: tuple[str, ...] | None = None):
    config = tiny_model().config
    config.finetuning_task = task
    if labels is not None:
        config.id2label = dict(enumerate(labels))
    return config


@pytest.mark.parametrize(
    "teacher, student, refusal",
    [
        (_config(), _config(), None),  # transformers' LABEL_0, LABEL_1 on both sides
        (_config("sst-2"), _config("sst2"), None),  # the hub's spelling and bertpress's
        (_config("mrpc"), _config(), None),  # the student records no task: the labels decide
        (_config("mrpc"), _config("rte"), "was fine-tuned for mrpc, the student for rte"),
        (_config(labels=("not_equivalent", "equivalent")), _config(labels=("entailment", "not_entailment")),
         "has labels not_equivalent, equivalent, the student entailment, not_entailment"),
        (_config(labels=("negative", "positive")), _config(), "the student unnamed (LABEL_0, ...)"),
    ],
)
def test_a_teacher_must_mean_what_the_student_means(teacher, student, refusal):
    tokenizer = tokenizer_for("bert")
    check = lambda **flag: check_teacher(  # noqa: E731
        teacher, tokenizer, student, tokenizer, SequenceClassification(2), "T", **flag
    )
    if refusal is None:
        check()
    else:
        with pytest.raises(BertpressError) as error:
            check()
        assert refusal in _one_line(error) and "pass --teacher-labels-differ" in str(error.value)
    check(labels_differ=True)  # the user's word: the outputs mean the same


def test_distill_refuses_a_teacher_of_another_task_unless_told(rte_dir, tmp_path, capsys):
    folders = {}
    for task in ("rte", "mrpc"):
        model = tiny_model()
        model.config.finetuning_task = task
        folders[task] = tmp_path / task
        folders[task].mkdir()
        save_model(model, tokenizer_for("bert"), folders[task])
    argv = ["distill", "--model", str(folders["rte"]), "--task", "rte", "--data-dir", str(rte_dir),
            "--teacher", str(folders["mrpc"]), "--num-samples", "32", "--train-batch-size", "8", "--epochs", "1",
            *FAST_LATENCY]
    err = _fails_with_one_line([*argv, "--output", str(tmp_path / "refused")], capsys)
    assert f"teacher {folders['mrpc']} was fine-tuned for mrpc, the student for rte" in err
    assert not (tmp_path / "refused").exists()
    assert main([*argv, "--output", str(tmp_path / "told"), "--teacher-labels-differ"]) == 0
    recipe = api.Recipe.load(tmp_path / "told" / "recipe.yaml")
    assert recipe.steps[0].teacher_labels_differ


# --- one line instead of a traceback ------------------------------------------------------------


@pytest.mark.parametrize(
    "content, message",
    [
        (b"version: abc\nsteps: []\n", "recipe version must be a whole number of at least 1, not 'abc'"),
        (b"version: 0\nsteps: []\n", "recipe version must be a whole number of at least 1, not 0"),
        (b"steps:\n- prune: {macs: 0.5}\n# caf\xe9\n", "is not UTF-8 text (byte 33 cannot be read)"),
    ],
)
def test_a_bad_recipe_file_is_one_line(content, message, model_dir, rte_dir, tmp_path, capsys):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_bytes(content)
    argv = ["compress", "--model", str(model_dir), "--task", "rte", "--data-dir", str(rte_dir), "--recipe", str(recipe)]
    assert message in _fails_with_one_line([*argv, "--output", str(tmp_path / "out")], capsys)
    assert not (tmp_path / "out").exists()


def test_a_max_length_beyond_the_positions_is_refused_before_any_work(model_dir, rte_dir, tmp_path, capsys):
    assert usable_positions(tiny_model("bert").config) == 130
    assert usable_positions(tiny_model("roberta").config) == 128  # positions start after the padding index
    long_text = " ".join(["the cat sat on the mat"] * 40)
    for split in ("train", "dev"):
        with open(rte_dir / "RTE" / f"{split}.tsv", "a") as rows:
            rows.write(f"999\t{long_text}\t{long_text}\tentailment\n")
    data = ["--model", str(model_dir), "--task", "rte", "--data-dir", str(rte_dir), "--max-length"]
    output = tmp_path / "out"
    message = f"error: --max-length 200 is more than {model_dir} takes (130 tokens); use at most 130\n"
    for argv in (["evaluate", *data, "200"], ["prune", *data, "200", "--macs", "0.5", "--output", str(output)],
                 ["finetune", *data, "200", "--output", str(output)]):
        assert _fails_with_one_line(argv, capsys).endswith(message)
    assert not output.exists()
    assert main(["evaluate", *data, "130"]) == 0  # the long text truncated to what the model takes


def test_a_squad_file_with_a_null_question_is_one_line(model_dir, tmp_path, capsys):
    squad = tmp_path / "squad.json"
    questions = [{"id": "q1", "question": "who sat"}, {"id": "q2", "question": None}]
    squad.write_text(json.dumps({"data": [{"paragraphs": [{"context": "the cat sat on the mat", "qas": questions}]}]}))
    with pytest.raises(BertpressError) as error:
        retrieval_set(squad)
    assert _one_line(error) == f"{squad}: data[0].paragraphs[0].qas[1]: 'question' should be a str, not NoneType"
    argv = ["evaluate", "--model", str(model_dir), "--task", "squad-retrieval", "--data-file", str(squad)]
    assert _fails_with_one_line(argv, capsys).endswith("'question' should be a str, not NoneType\n")


def test_resume_with_a_damaged_optimizer_state_is_one_line(model_dir, rte_dir, tmp_path, monkeypatch, capsys):
    stop_after_first_checkpoint(monkeypatch)
    output = tmp_path / "student"
    argv = ["distill", "--model", str(model_dir), "--task", "rte", "--data-dir", str(rte_dir), "--macs", "0.6",
            "--num-samples", "32", "--train-batch-size", "8", "--epochs", "2", *FAST_LATENCY, "--output", str(output)]
    assert main(argv) == 130
    monkeypatch.undo()
    capsys.readouterr()
    folder = Path(f"{output}.checkpoints")
    optimizer = folder / "latest" / "training" / "optimizer.bin"
    optimizer.write_bytes(optimizer.read_bytes()[:100])
    err = _fails_with_one_line([*argv, "--resume", str(folder)], capsys)  # one line: refused before any work
    assert err.endswith(f"error: cannot resume: {optimizer} is damaged or not a PyTorch file\n")
    assert not output.exists() and (folder / "latest" / "progress.json").is_file()


# --- file modes ---------------------------------------------------------------------------------


def test_every_output_file_follows_the_umask(model_dir, rte_dir, tmp_path):
    """safetensors writes its files 0600, and folders copied from a private temporary folder were 0700."""
    recipe = api.Recipe.of(api.PruneStep(macs=0.5), api.ExportStep())
    fast = dict(calibration=api.Calibration(num_samples=64), progress=False,
                latency=api.LatencySetting(batch_size=2, seq_length=8, min_run_time=0.05))
    before = os.umask(0o022)
    try:
        api.compress(str(model_dir), "rte", tmp_path / "pruned", recipe=recipe,
                     data=api.DataSource(data_dir=str(rte_dir)), **fast)
        api.export(str(model_dir), tmp_path / "exported")
    finally:
        os.umask(before)
    written = [*(tmp_path / "pruned").rglob("*"), *(tmp_path / "exported").rglob("*")]
    assert {"model.safetensors", "onnx", "model.onnx"} <= {path.name for path in written}
    modes = {str(path): oct(path.stat().st_mode & 0o777) for path in written}
    assert modes == {str(path): "0o755" if path.is_dir() else "0o644" for path in written}
