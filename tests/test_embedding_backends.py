"""Every backend for sentence embedders: ONNX Runtime and OpenVINO, fp32 and int8 (static int8
calibrated on the embedder's text), written as sentence-transformers' backends read them, the same
embeddings as PyTorch, evaluated and timed from the exported folder, and the inputs refused.

sentence-transformers' ``backend="openvino"`` needs optimum-intel, which cannot share this
environment (it pins transformers below 5.6): what it reads is checked here with
sentence-transformers' own file lookup (``backend_should_export``) and by running the graph the way
optimum's ``OVModelForFeatureExtraction`` does (inputs by name, ``last_hidden_state`` out by
``get_any_name()``) followed by the folder's own Pooling and Normalize modules.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import FAST_LATENCY, make_tokenizer, save_tiny_model
from sentence_transformers import SentenceTransformer
from sentence_transformers.backend.utils import backend_should_export
from test_embeddings import save_embedder_folder, squad_file, texts

from bertpress import api
from bertpress.cli import main
from bertpress.measure.embeddings import embed
from bertpress.runtime.backends import BACKENDS, get_backend
from bertpress.runtime.loading import load_any

EXPORTED = [name for name, backend in BACKENDS.items() if backend.file is not None]
SENTENCES = texts(10, seed=3)
# What sentence-transformers calls each runtime's default file, and the files its own exports are named by.
ST_DEFAULT = {"onnx": ("model.onnx", "*.onnx", "ONNX"), "openvino": ("openvino_model.xml", "openvino*.xml", "OpenVINO")}
ST_NAMES = {
    "onnx-fp32": "onnx/model.onnx",
    "onnx-int8": "onnx/model_qint8_quantized.onnx",  # export_dynamic_quantized_onnx_model's default suffix
    "openvino-fp32": "openvino/openvino_model.xml",
    "openvino-int8": "openvino/openvino_model_qint8_quantized.xml",  # export_static_quantized_openvino_model's
}


@pytest.fixture(scope="module")
def embedder_dir(tmp_path_factory) -> Path:
    return save_embedder_folder(tmp_path_factory.mktemp("embedder") / "model")


@pytest.fixture(scope="module")
def text_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("text") / "texts.txt"
    path.write_text("\n".join(texts(96)) + "\n")
    return path


@pytest.fixture(scope="module")
def exports(embedder_dir, text_file, tmp_path_factory):
    """``exports(backend)`` -> (folder, report) of ``bertpress export --embedding --backend``, made once."""
    made = {}

    def export(name: str):
        if name not in made:
            output = tmp_path_factory.mktemp(name) / "export"
            code = main(["export", "--model", str(embedder_dir), "--embedding", "--backend", name,
                         "--text-file", str(text_file), "--output", str(output), "--json", str(output) + ".json"])
            assert code == 0
            made[name] = output, json.loads(Path(str(output) + ".json").read_text())
        return made[name]

    return export


def reference(embedder_dir) -> torch.Tensor:
    return embed(api.load_embedder(str(embedder_dir)), make_tokenizer(), SENTENCES, progress=False)


@pytest.mark.parametrize("name", EXPORTED)
def test_each_backend_gives_pytorchs_embeddings(name, exports, embedder_dir):
    folder, report = exports(name)
    ours = embed(api.load_embedder(str(folder)), make_tokenizer(), SENTENCES, progress=False)
    expected = reference(embedder_dir)
    if get_backend(name).int8 is None:
        assert (ours - expected).abs().max() < 1e-4 and report["max_abs_diff"] < 1e-4
    else:
        assert F.cosine_similarity(ours, expected).min() > 0.99
        assert report["int8_mode"] == get_backend(name).int8


@pytest.mark.parametrize("name", EXPORTED)
def test_the_folder_is_laid_out_as_sentence_transformers_reads_it(name, exports):
    folder, report = exports(name)
    backend = get_backend(name)
    place = folder / backend.runtime
    assert report["file"] == backend.file and Path(report["output"]) == place
    if name in ST_NAMES:
        assert (folder / ST_NAMES[name]).is_file()
    if backend.runtime == "openvino":
        assert (place / backend.file.replace(".xml", ".bin")).is_file()
    root = {path.name for path in folder.iterdir()}
    assert {"modules.json", "1_Pooling", "2_Normalize", "sentence_bert_config.json", "config.json", "tokenizer.json",
            "README.md", backend.runtime} <= root
    assert not root & {"model.safetensors", "pytorch_model.bin"}  # the folder holds the one model asked for
    assert f"in {ST_DEFAULT[backend.runtime][2]} (" in (folder / "README.md").read_text()  # the card names its runtime
    # sentence-transformers' own lookup finds the file: the default one without a file name, any with it
    target, pattern, label = ST_DEFAULT[backend.runtime]
    options = {} if backend.file == target else {"file_name": backend.file}
    export, found = backend_should_export(folder, True, options, target, pattern, label)
    assert not export and found == {"subfolder": backend.runtime, "file_name": backend.file}


@pytest.mark.parametrize("name", ["openvino-fp32", "openvino-int8"])
def test_sentence_transformers_openvino_route_gives_the_same_embeddings(name, exports, embedder_dir):
    """What optimum's OVModelForFeatureExtraction does with the file (inputs by name, the output
    whose any_name is last_hidden_state), then the folder's own Pooling and Normalize modules."""
    import openvino as ov

    folder, _ = exports(name)
    compiled = ov.Core().compile_model(str(folder / get_backend(name).runtime / get_backend(name).file), "CPU")
    inputs = {port.get_any_name() for port in compiled.inputs}
    assert inputs == {"input_ids", "attention_mask", "token_type_ids"}
    encoded = make_tokenizer()(SENTENCES, padding=True, return_tensors="np")
    results = compiled({name: encoded[name] for name in inputs})
    by_name = {port.get_any_name(): value for port, value in results.items()}
    assert {"last_hidden_state", "sentence_embedding"} <= set(by_name)
    st_model = SentenceTransformer(str(embedder_dir), device="cpu")
    modules = list(st_model)[1:]  # its Pooling and Normalize
    features = {"token_embeddings": torch.from_numpy(by_name["last_hidden_state"]),
                "attention_mask": torch.from_numpy(encoded["attention_mask"])}
    for module in modules:
        features = module(features)
    pooled = features["sentence_embedding"]
    assert torch.allclose(pooled, torch.from_numpy(by_name["sentence_embedding"]), atol=1e-5)
    st = st_model.encode(SENTENCES, convert_to_tensor=True)
    if get_backend(name).int8 is None:
        assert torch.allclose(pooled, st, atol=1e-4)
    else:
        assert F.cosine_similarity(pooled, st).min() > 0.99


def test_onnx_graph_feeds_and_outputs_by_name(exports):
    import onnxruntime as ort

    folder, _ = exports("onnx-int8")
    session = ort.InferenceSession(str(folder / "onnx" / get_backend("onnx-int8").file))
    assert {i.name for i in session.get_inputs()} == {"input_ids", "attention_mask", "token_type_ids"}
    assert {"last_hidden_state", "sentence_embedding"} <= {o.name for o in session.get_outputs()}


@pytest.mark.parametrize("name", ["openvino-int8", "onnx-fp32"])
def test_evaluate_runs_an_exported_embedder_folder(name, exports, glue_dir, tmp_path):
    folder, _ = exports(name)
    squad = squad_file(tmp_path)
    for model in (folder, folder / get_backend(name).runtime):  # the sentence-transformers folder, or the subfolder
        result = tmp_path / "retrieval.json"
        assert main(["evaluate", "--model", str(model), "--task", "squad-retrieval", "--data-file", str(squad),
                     "--json", str(result)]) == 0
        assert json.loads(result.read_text())["metrics"]["recall@10"] == 100
    sts = tmp_path / "sts.json"
    args = ["evaluate", "--model", str(folder), "--task", "stsb", "--embedding", "--data-dir", str(glue_dir)]
    assert main([*args, "--json", str(sts)]) == 0
    assert np.isfinite(json.loads(sts.read_text())["metrics"]["spearman"])


def test_bench_times_the_embedder_on_each_backend(embedder_dir, text_file, exports, tmp_path):
    result = tmp_path / "bench.json"
    names = ["torch-fp32", "torch-int8", "onnx-int8-static", "openvino-fp32", "openvino-int8"]
    assert main(["bench", "--model", str(embedder_dir), "--embedding", "--text-file", str(text_file), "--backends",
                 ",".join(names), "--batch-size", "4", "--seq-length", "16", "--min-time", "0.01",
                 "--json", str(result)]) == 0
    rows = json.loads(result.read_text())["results"]
    assert [row["backend"] for row in rows] == names and all(row["throughput"] > 0 for row in rows)
    folder, _ = exports("openvino-int8")  # an exported folder is timed on its runtime
    assert main(["bench", "--model", str(folder), "--embedding", "--backends", "openvino-int8", "--batch-size", "2",
                 "--seq-length", "16", "--min-time", "0.01", "--json", str(result)]) == 0
    assert [row["backend"] for row in json.loads(result.read_text())["results"]] == ["openvino-int8"]


def test_a_recipe_quantizes_an_embedder_for_openvino(embedder_dir, text_file, tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("steps:\n  - prune: {macs: 0.6}\n  - quantize: {backend: openvino, mode: static}\n")
    output = tmp_path / "out"
    assert main(["compress", "--model", str(embedder_dir), "--embedding", "--text-file", str(text_file), "--recipe",
                 str(recipe), "--output", str(output), "--num-samples", "64", *FAST_LATENCY]) == 0
    assert json.loads((output / "report.json").read_text())["backend"] == "openvino-int8"
    file = get_backend("openvino-int8").file
    export, found = backend_should_export(output, True, {"file_name": file}, *ST_DEFAULT["openvino"])
    assert not export and found == {"subfolder": "openvino", "file_name": file}
    pruned = embed(api.load_embedder(str(output)), make_tokenizer(), SENTENCES, progress=False)  # PyTorch at the root
    int8 = embed(api.load_embedder(str(output / "openvino")), make_tokenizer(), SENTENCES, progress=False)
    assert F.cosine_similarity(int8, pruned).min() > 0.99


@pytest.mark.parametrize(
    "case,message",
    [
        ("empty-text", "has no text"),
        ("unknown-backend", "invalid choice: 'onnx-int4'"),
        ("unknown-bench-backend", "unknown backend 'onnx-int4'"),
        ("task-model-static", "is calibrated on a task model's data"),
        ("both", "give the backend (--backend) or --int8, not both"),
        ("text-without-embedding", "--text-file is unlabeled text for a sentence embedder: add --embedding"),
    ],
)
def test_bad_input_gets_one_line_and_nothing_written(case, message, embedder_dir, text_file, tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    output = tmp_path / "out"
    export = ["export", "--model", str(embedder_dir), "--output", str(output)]
    commands = {
        "empty-text": [*export, "--embedding", "--backend", "openvino-int8", "--text-file", str(empty)],
        "unknown-backend": [*export, "--embedding", "--backend", "onnx-int4"],
        "unknown-bench-backend": ["bench", "--model", str(embedder_dir), "--embedding", "--backends", "onnx-int4",
                                  "--json", str(output / "bench.json")],
        "task-model-static": [*export, "--backend", "onnx-int8-static"],
        "both": [*export, "--embedding", "--int8", "--backend", "openvino-fp32"],
        "text-without-embedding": [*export, "--backend", "openvino-fp32", "--text-file", str(text_file)],
    }
    assert exit_code(commands[case]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not output.exists()


def exit_code(argv: list[str]) -> int:
    """The command's exit code, usage errors (which argparse raises as SystemExit) included."""
    try:
        return main(argv)
    except SystemExit as exit:
        return exit.code


def test_a_folder_exported_under_the_former_int8_names_still_loads_and_times(tmp_path):
    """Before the sentence-transformers names, int8 files were model.int8.onnx and openvino_model.int8.xml."""
    folder = save_tiny_model(tmp_path / "model")
    assert main(["export", "--model", str(folder), "--int8", "--output", str(tmp_path / "onnx")]) == 0
    (tmp_path / "onnx" / "model.onnx").unlink(missing_ok=True)  # the fp32 graph, where one is written beside
    (tmp_path / "onnx" / "model_qint8_quantized.onnx").rename(tmp_path / "onnx" / "model.int8.onnx")
    model = load_any(str(tmp_path / "onnx"))
    assert model.path.name == "model.int8.onnx"
    report = api.bench(str(tmp_path / "onnx"), (1,), 8, backends=["onnx-int8"], min_run_time=0.01, progress=False)
    assert [row.backend for row in report.results] == ["onnx-int8"]
