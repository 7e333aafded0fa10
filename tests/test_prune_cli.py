"""`bertpress prune` end to end on a tiny model: report, budget, reloading, bad input."""

import json

import pytest
import torch
from conftest import run_prune, save_tiny_model, tiny_model, tokenizer_for
from transformers import (
    AutoModelForSequenceClassification,
    GPT2Config,
    GPT2ForSequenceClassification,
)

from bertpress import api, load
from bertpress.cli import main
from bertpress.measure.latency import LatencySetting
from bertpress.models.adapters import get_adapter
from bertpress.models.saving import save_model


def test_prune_writes_a_smaller_model_that_reloads_everywhere(model_dir, rte_dir, tmp_path, capsys):
    output = tmp_path / "pruned"
    assert run_prune(model_dir, rte_dir, output, "--flops", "0.5", "--json", str(tmp_path / "r.json")) == 0
    report = json.loads((output / "report.json").read_text())
    assert report == json.loads((tmp_path / "r.json").read_text())
    for key in ("task", "budget", "baseline", "pruned", "macs_ratio", "params_ratio", "speedup",
                "heads_per_layer", "neurons_per_layer", "timings_s"):
        assert key in report
    assert set(report["timings_s"]) >= {"fisher", "search", "rearrange", "tune", "total"}
    assert report["budget"] == {"kind": "macs", "macs_ratio": 0.5}
    assert report["config"]["num_samples"] == 64 and report["config"]["macs"] == 0.5
    assert report["macs_ratio"] <= 0.5 * 1.005
    assert report["pruned"]["params"] < report["baseline"]["params"]
    assert "speedup" in capsys.readouterr().out

    model = load(str(output))
    assert get_adapter(model).heads_per_layer() == report["heads_per_layer"]
    assert get_adapter(model).neurons_per_layer() == report["neurons_per_layer"]
    stock = AutoModelForSequenceClassification.from_pretrained(output, trust_remote_code=True).eval()
    inputs = {"input_ids": torch.tensor([[2, 7, 8, 9, 3, 10, 11, 3]])}
    with torch.no_grad():
        assert (model(**inputs).logits - stock(**inputs).logits).abs().max() < 1e-5

    # a pruned model can be evaluated and pruned again
    assert main(["evaluate", "--model", str(output), "--task", "rte", "--data-dir", str(rte_dir)]) == 0
    again = tmp_path / "again"
    assert run_prune(output, rte_dir, again, "--flops", "0.6", "--neuron-multiple", "8") == 0
    second = json.loads((again / "report.json").read_text())
    assert second["pruned"]["macs"] < report["pruned"]["macs"] and second["config"]["neuron_multiple"] == 8
    assert all(width % 8 == 0 for width in second["neurons_per_layer"])
    assert get_adapter(load(str(again))).neurons_per_layer() == second["neurons_per_layer"]


@pytest.mark.parametrize("reconstruct", ["scales", "weights"])
def test_the_same_seed_gives_the_same_model(model_dir, rte_dir, tmp_path, reconstruct):
    config = api.PruneStep(macs=0.6, reconstruct=reconstruct)
    runs = []
    for name in ("a", "b"):
        api.prune(str(model_dir), "rte", tmp_path / name, config=config, data=api.DataSource(data_dir=str(rte_dir)),
                  calibration=api.Calibration(num_samples=64, seed=3),
                  latency=LatencySetting(batch_size=2, seq_length=8, min_run_time=0.05), progress=False)
        runs.append(load(str(tmp_path / name)).state_dict())
    assert runs[0].keys() == runs[1].keys()
    assert all(torch.equal(runs[0][key], runs[1][key]) for key in runs[0])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--flops", "1.5"], "the MACs ratio must be in (0, 1], got 1.5"),
        (["--flops", "0"], "the MACs ratio must be in (0, 1], got 0.0"),
        (["--flops", "0.5", "--num-samples", "8"], "--num-samples (8) must be at least one batch (32)"),
    ],
)
def test_bad_budgets_and_samples_are_one_line_errors(model_dir, rte_dir, tmp_path, capsys, args, message):
    output = tmp_path / "out"
    assert run_prune(model_dir, rte_dir, output, *args) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"bertpress prune: error: {message}"
    assert not output.exists()


def test_a_neuron_multiple_below_one_is_a_usage_error(model_dir, rte_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        run_prune(model_dir, rte_dir, tmp_path / "out", "--flops", "0.5", "--neuron-multiple", "0")
    assert exited.value.code == 2
    assert "argument --neuron-multiple: expected a whole number of at least 1, not '0'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_model_that_does_not_fit_the_task(tmp_path, rte_dir, capsys):
    model = save_tiny_model(tmp_path / "three", num_labels=3)
    assert run_prune(model, rte_dir, tmp_path / "out", "--flops", "0.5") == 2
    assert "needs 2" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_family_without_adapter(tmp_path, rte_dir, capsys):
    GPT2ForSequenceClassification(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=50)).save_pretrained(tmp_path / "gpt2")
    assert run_prune(tmp_path / "gpt2", rte_dir, tmp_path / "out", "--flops", "0.5") == 2
    err = capsys.readouterr().err
    assert "no adapter for model family 'gpt2'" in err and "Traceback" not in err


def test_an_existing_output_folder_and_the_input_folder_are_kept(model_dir, rte_dir, tmp_path, capsys):
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "notes.txt").write_text("mine")
    assert run_prune(model_dir, rte_dir, existing, "--macs", "0.5") == 2
    assert "exists and is not empty; pass --overwrite" in capsys.readouterr().err
    assert [p.name for p in existing.iterdir()] == ["notes.txt"]

    before = sorted(p.name for p in model_dir.iterdir())
    assert run_prune(model_dir, rte_dir, model_dir, "--macs", "0.5", "--overwrite") == 2
    assert "is, or holds, input" in capsys.readouterr().err
    assert sorted(p.name for p in model_dir.iterdir()) == before

    assert run_prune(model_dir, rte_dir, existing, "--macs", "0.5", "--overwrite") == 0
    assert (existing / "report.json").is_file() and not (existing / "notes.txt").exists()


def test_a_model_with_a_nan_weight_is_not_pruned(tmp_path, rte_dir, capsys):
    model = tiny_model_with_nan()
    folder = tmp_path / "nan"
    folder.mkdir()
    save_model(model, tokenizer_for("bert"), folder)
    assert run_prune(folder, rte_dir, tmp_path / "out", "--macs", "0.5") == 2
    err = capsys.readouterr().err
    assert "not finite (NaN or inf)" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def tiny_model_with_nan():
    model = tiny_model("bert")
    with torch.no_grad():
        model.bert.encoder.layer[1].output.dense.weight[0, 0] = float("nan")
    return model
