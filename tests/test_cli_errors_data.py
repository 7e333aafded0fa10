"""Bad input to `evaluate` and `finetune`: one line on stderr, exit code 2, no traceback, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import save_tiny_model, tokenizer_for

from bertpress.cli import main


@pytest.fixture
def paths(tmp_path, glue_dir) -> dict[str, Path]:
    """The files the bad commands point at, by name."""
    weightless = tmp_path / "weightless"
    weightless.mkdir()
    (weightless / "config.json").write_text('{"model_type": "bert"}')
    tokenizer_for("bert").save_pretrained(weightless)  # a folder that lacks only its weights
    files = {
        "header_only.tsv": "sentence1\tsentence2\tlabel\n",
        "extra_field.tsv": "sentence1\tsentence2\tlabel\na\tb\tentailment\nc\td\tentailment\tsurplus\n",
        "no_label.csv": "sentence1,sentence2\na,b\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "empty_glue").mkdir()
    return {
        "tmp": tmp_path,
        "glue": glue_dir,
        "rte_model": save_tiny_model(tmp_path / "tiny-rte", num_labels=2),
        "mnli_model": save_tiny_model(tmp_path / "tiny-mnli", num_labels=3),
        "weightless": weightless,
    }


EVALUATE_CASES = {
    "unknown task": (["--task", "nope"], "unknown task 'nope'"),
    "unknown split": (["--split", "test_matched"], "task 'rte' has no split 'test_matched'"),
    "missing data folder": (["--data-dir", "{tmp}/nowhere"], "data folder not found"),
    "missing GLUE file": (["--data-dir", "{tmp}/empty_glue"], "no RTE/dev.tsv in"),
    "missing custom file": (["--dev-file", "{tmp}/absent.tsv"], "data file not found"),
    "empty dataset": (["--dev-file", "{tmp}/header_only.tsv"], "header_only.tsv has no examples"),
    "malformed row": (["--dev-file", "{tmp}/extra_field.tsv"], "extra_field.tsv: Expected 3 fields in line 3, saw 4"),
    "missing column": (["--dev-file", "{tmp}/no_label.csv"], "no_label.csv has no column 'label'"),
    "label count": (["--model", "{mnli_model}"], "the model has 3 output label(s) but task 'rte' needs 2"),
    "no weights": (["--model", "{weightless}"], "no model weights"),
    "missing model": (["--model", "{tmp}/no-model"], "model folder not found"),
}


def _options(override: list[str], *extra: str) -> list[str]:
    """A working rte command line, with ``override``'s options replacing their defaults."""
    options = {"--model": "{rte_model}", "--task": "rte", "--data-dir": "{glue}"}
    options.update(zip(override[::2], override[1::2]))
    return [*(item for pair in options.items() for item in pair), *extra]


def _run(argv: list[str], paths: dict[str, Path], capsys) -> str:
    argv = [arg.format(**paths) for arg in argv]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert len(captured.err.splitlines()) == 1, captured.err
    return captured.err


@pytest.mark.parametrize("case", sorted(EVALUATE_CASES))
def test_evaluate_bad_input(case, paths, capsys):
    override, message = EVALUATE_CASES[case]
    err = _run(["evaluate", *_options(override), "--json", "{tmp}/out.json"], paths, capsys)
    assert err.startswith("bertpress evaluate: error: ") and message in err
    assert not (paths["tmp"] / "out.json").exists()


FINETUNE_CASES = {
    "missing train file": (["--train-file", "{tmp}/absent.tsv"], "data file not found"),
    "malformed train row": (["--train-file", "{tmp}/extra_field.tsv"], "Expected 3 fields in line 3, saw 4"),
    "empty train set": (["--train-file", "{tmp}/header_only.tsv"], "has no examples"),
    "label count": (["--model", "{mnli_model}"], "the model has 3 output label(s) but task 'rte' needs 2"),
    "no weights": (["--model", "{weightless}"], "no model weights"),
    "unknown task": (["--task", "nope"], "unknown task 'nope'"),
}


@pytest.mark.parametrize("case", sorted(FINETUNE_CASES))
def test_finetune_bad_input_writes_nothing(case, paths, capsys):
    override, message = FINETUNE_CASES[case]
    err = _run(["finetune", *_options(override, "--output", "{tmp}/models/out"), "--epochs", "1"], paths, capsys)
    assert err.startswith("bertpress finetune: error: ") and message in err
    assert not (paths["tmp"] / "models").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["finetune", "--task", "rte", "--output", "x", "--max-train-samples", "0"],
        ["finetune", "--task", "rte", "--output", "x", "--epochs", "two"],
        ["evaluate", "--model", "m"],
    ],
)
def test_usage_errors_are_one_line(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert len(capsys.readouterr().err.splitlines()) == 1


# --json FILE is checked before the command runs: once it has run, its output is already written.
JSON_TARGET_CASES = {
    "parent is a file": (["--json", "{tmp}/header_only.tsv/out.json"], "{tmp}/header_only.tsv is a file"),
    "a folder": (["--json", "{tmp}"], "is a folder"),
    "the model's config": (["--json", "{rte_model}/config.json"], "would write into the input --model"),
    "inside the data folder": (["--json", "{glue}/RTE/dev.json"], "would write into the input --data-dir"),
    "the dev file": (["--dev-file", "{tmp}/no_label.csv", "--json", "{tmp}/no_label.csv"], "the input --dev-file"),
}


def _files(folder: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}


@pytest.mark.parametrize("case", sorted(JSON_TARGET_CASES))
def test_a_json_target_that_fails_or_harms_an_input_is_refused_first(case, paths, capsys):
    override, message = JSON_TARGET_CASES[case]
    before = _files(paths["tmp"])
    err = _run(["evaluate", *_options(override)], paths, capsys)
    assert err.startswith("bertpress evaluate: error: --json ") and message.format(**paths) in err
    assert _files(paths["tmp"]) == before


def test_prune_refuses_a_json_under_a_file_before_writing_the_model(paths, capsys):
    extra = ("--macs", "0.5", "--output", "{tmp}/pruned", "--json", "{tmp}/header_only.tsv/report.json")
    err = _run(["prune", *_options([], *extra)], paths, capsys)
    assert "header_only.tsv is a file" in err and not (paths["tmp"] / "pruned").exists()
