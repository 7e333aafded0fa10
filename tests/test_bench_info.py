"""`bench` and `info`: the documented JSON, per-layer sizes of pruned models (PyTorch and ONNX),
and bad input as one line on stderr with exit code 2."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import distinctive_model, tiny_model

from bertpress.cli import main
from bertpress.export.onnx import export_onnx
from bertpress.measure.macs import count_params, model_macs
from bertpress.models.adapters import get_adapter
from bertpress.models.saving import save_model

BACKENDS = ["torch-fp32", "torch-int8", "onnx-fp32", "onnx-int8"]
COLUMNS = ["batch_size", "latency_ms", "throughput", "backend", "size_mb", "spread_ms", "model", "speedup",
           "speedup_vs_fastest_dense"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict:
    """A pruned tiny BERT saved as a PyTorch folder and exported as an ONNX one."""
    root = tmp_path_factory.mktemp("bench")
    model = distinctive_model("bert", pruned=True)
    (root / "torch").mkdir()
    save_model(model, None, root / "torch")
    export_onnx(model, root / "onnx")
    return {"model": model, "torch": root / "torch", "onnx": root / "onnx", "tmp": root}


def run_json(argv: list[str], out) -> dict:
    assert main([*argv, "--json", str(out)]) == 0
    return json.loads(out.read_text())


def bench_json(folder, out, *options: str) -> dict:
    return run_json(["bench", "--model", str(folder), "--seq-length", "16", "--min-time", "0.01", *options], out)


def test_bench_json_has_exactly_the_documented_keys(folders, tmp_path, capsys):
    result = bench_json(folders["torch"], tmp_path / "bench.json", "--batch-sizes", "1,2", "--threads", "1")
    assert list(result) == ["report", "version", "params", "macs", "seq_length", "device", "threads", "size_mb", "results",
                            "machine", "dense_model"]
    assert (result["seq_length"], result["device"], result["threads"]) == (16, "cpu", 1)
    assert result["machine"]["threads"] == {"torch": 1, "onnxruntime": 1, "openvino": 1} and result["machine"]["cpu"]
    assert [list(row) for row in result["results"]] == [COLUMNS] * 2
    assert all(row["backend"] is None and row["size_mb"] is None for row in result["results"])
    assert all(row["spread_ms"] >= 0 and row["model"] is None for row in result["results"])
    assert [row["batch_size"] for row in result["results"]] == [1, 2]
    assert all(row["latency_ms"] > 0 and row["throughput"] > 0 for row in result["results"])
    model = folders["model"]
    assert result["params"] == count_params(model) and result["macs"] == model_macs(get_adapter(model), 16)
    assert result["size_mb"] == round((folders["torch"] / "model.safetensors").stat().st_size / 1e6, 3)
    assert "sequences/s" in capsys.readouterr().out


def test_bench_compares_backends_side_by_side(folders, tmp_path):
    result = bench_json(folders["torch"], tmp_path / "bench.json", "--batch-sizes", "2", "--backends", ",".join(BACKENDS))
    assert [(row["backend"], row["batch_size"]) for row in result["results"]] == [(name, 2) for name in BACKENDS]
    assert all(list(row) == COLUMNS for row in result["results"])
    sizes = {row["backend"]: row["size_mb"] for row in result["results"]}
    assert sizes["onnx-int8"] < sizes["onnx-fp32"]
    assert result["dense_model"] is None and all(row["speedup"] is None for row in result["results"])


def test_bench_times_the_dense_model_its_report_names_beside_it(folders, tmp_path, capsys):
    compressed = tmp_path / "compressed"
    compressed.mkdir()
    save_model(folders["model"], None, compressed)
    (compressed / "report.json").write_text(json.dumps({"report": "compress", "model": str(folders["torch"])}))
    result = bench_json(compressed, tmp_path / "bench.json", "--batch-sizes", "2", "--backends", "onnx-int8")
    assert result["dense_model"] == str(folders["torch"])
    rows = {(row["model"], row["backend"]): row for row in result["results"]}
    assert set(rows) == {("model", "onnx-int8"), ("dense", "torch-fp32"), ("dense", "onnx-int8")}
    assert rows["dense", "torch-fp32"]["speedup"] == 1.0
    fastest = min(rows["dense", backend]["latency_ms"] for backend in ("torch-fp32", "onnx-int8"))
    model = rows["model", "onnx-int8"]
    assert model["speedup_vs_fastest_dense"] == round(fastest / model["latency_ms"], 2)
    assert "vs fastest dense" in capsys.readouterr().out


def test_bench_times_the_dense_model_it_is_given_instead_of_the_one_its_report_names(folders, tmp_path):
    compressed, step = tmp_path / "compressed", tmp_path / "step"  # step: the last command's input, at hand
    for folder in (compressed, step):
        folder.mkdir()
        save_model(folders["model"], None, folder)
    (compressed / "report.json").write_text(json.dumps({"report": "compress", "model": str(step)}))
    result = bench_json(compressed, tmp_path / "bench.json", "--batch-sizes", "2", "--backends", "torch-fp32",
                        "--dense", str(folders["torch"]))
    assert result["dense_model"] == str(folders["torch"])
    assert {(row["model"], row["backend"]) for row in result["results"]} == {("model", "torch-fp32"), ("dense", "torch-fp32")}


@pytest.mark.parametrize("options, message", [
    (["--dense", "FOLDER"], "a dense model to time beside the model needs --backends"),
    (["--backends", "torch-fp32", "--dense", "nowhere/at/all"], "model folder not found: nowhere/at/all"),
])
def test_bench_refuses_a_dense_model_it_cannot_time(folders, tmp_path, capsys, options, message):
    options = [str(folders["torch"]) if option == "FOLDER" else option for option in options]
    argv = ["bench", "--model", str(folders["torch"]), "--seq-length", "16", *options]
    assert main(argv) == 2
    assert capsys.readouterr().err.strip() == f"bertpress bench: error: {message}"


def test_bench_runs_an_onnx_export(folders, tmp_path):
    backends = "onnx-fp32,onnx-int8"
    result = bench_json(folders["onnx"], tmp_path / "bench.json", "--batch-sizes", "3", "--backends", backends)
    assert [row["backend"] for row in result["results"]] == ["onnx-fp32", "onnx-int8"]
    assert result["size_mb"] == round((folders["onnx"] / "model.onnx").stat().st_size / 1e6, 3)
    assert result["params"] == count_params(folders["model"])


@pytest.mark.parametrize("kind", ["torch", "onnx"])
def test_info_reports_the_per_layer_sizes_of_a_pruned_model(folders, kind, tmp_path, capsys):
    info = run_json(["info", "--model", str(folders[kind])], tmp_path / "info.json")
    assert (info["family"], info["architecture"], info["pruned"]) == ("bert", "BertForSequenceClassification", True)
    assert info["format"] == ("pytorch" if kind == "torch" else "onnx (model.onnx)")
    assert (info["heads_per_layer"], info["neurons_per_layer"]) == ([2, 0, 4], [32, 64, 0])
    adapter = get_adapter(folders["model"])
    assert (info["params"], info["macs"]) == (count_params(folders["model"]), model_macs(adapter, 128))
    assert "FFN neurons" in capsys.readouterr().out


def test_info_of_a_dense_model(tmp_path):
    (tmp_path / "model").mkdir()
    save_model(tiny_model("distilbert", num_labels=3), None, tmp_path / "model")
    info = run_json(["info", "--model", str(tmp_path / "model")], tmp_path / "info.json")
    assert (info["family"], info["pruned"], info["num_labels"]) == ("distilbert", False, 3)
    assert (info["heads_per_layer"], info["neurons_per_layer"]) == ([4, 4, 4], [64, 64, 64])


def error_line(argv: list[str], capsys) -> str:
    """Run a bad command line: exit code 2 and one line on stderr, with no traceback."""
    try:
        code = main(argv)
    except SystemExit as exited:  # argparse's usage errors
        code = exited.code
    assert code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


BAD_INPUT = {
    "batch size not a number": (["bench", "--model", "{torch}", "--batch-sizes", "1,x"], "expected a whole number"),
    "batch size zero": (["bench", "--model", "{torch}", "--batch-sizes", "0"], "expected a whole number"),
    "unknown backend": (["bench", "--model", "{torch}", "--backends", "tflite"], "unknown backend 'tflite'"),
    "unknown device": (["bench", "--model", "{torch}", "--device", "tpu"], "invalid choice: 'tpu'"),
    "torch backend of an export": (
        ["bench", "--model", "{onnx}", "--backends", "onnx-fp32,torch-int8"],
        "need a PyTorch model folder",
    ),
    "missing model (bench)": (["bench", "--model", "{tmp}/absent"], "model folder not found"),
    "missing model (info)": (["info", "--model", "{tmp}/absent"], "model folder not found"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_is_one_line(case, folders, capsys):
    argv, message = BAD_INPUT[case]
    err = error_line([arg.format(**folders) for arg in argv], capsys)
    assert err.startswith(f"bertpress {argv[0]}: error: ") and message in err, err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
def test_cuda_without_a_gpu_is_one_line(folders, capsys):
    err = error_line(["bench", "--model", str(folders["torch"]), "--device", "cuda"], capsys)
    assert "sees no CUDA GPU" in err
