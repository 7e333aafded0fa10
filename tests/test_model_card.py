"""Model cards: every output folder gets a README.md in the Hugging Face form (a YAML header the hub
reads, the metrics of report.json as model-index) whose load snippets name files that exist and run."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import yaml
from conftest import run_prune
from test_embeddings import prune_cli, save_embedder_folder, texts

from bertpress import api
from bertpress.card import FOLDER, base_model_id, compress_card
from bertpress.data.sources import DataSource
from bertpress.data.tasks import get_task
from bertpress.models.loading import MODEL_ALIASES
from bertpress.train.finetune import TrainConfig, finetune

HEADER_KEYS = {"base_model", "library_name", "tags", "pipeline_tag"}


def read_card(folder: Path) -> tuple[dict, str]:
    """The YAML header and the markdown body of ``folder``'s README.md."""
    text = (folder / "README.md").read_text()
    assert text.startswith("---\n")
    header, body = text[4:].split("\n---\n", 1)
    return yaml.safe_load(header), body


def card_metrics(header: dict) -> dict:
    return {m["type"]: m["value"] for entry in header["model-index"] for r in entry["results"] for m in r["metrics"]}


def named_paths(body: str) -> list[str]:
    """The paths inside the folder that the snippets name (``f"{folder}/onnx/model.onnx"``)."""
    return re.findall(r'f"\{folder\}/([^"]+)"', body)


def run_snippets(folder: Path, body: str) -> list[dict]:
    """Run every Python snippet of the card on ``folder``; each one's variables."""
    scopes = []
    for block in re.findall(r"```python\n(.*?)```", body, re.S):
        scope: dict = {}
        with contextlib.redirect_stderr(io.StringIO()):
            exec(block.replace(f'"{FOLDER}"', repr(str(folder))), scope)
        scopes.append(scope)
    return scopes


def test_a_pruned_classifier_gets_a_card_whose_snippets_run(model_dir, rte_dir, tmp_path):
    output = tmp_path / "pruned"
    assert run_prune(model_dir, rte_dir, output, "--macs", "0.5") == 0
    header, body = read_card(output)
    report = json.loads((output / "report.json").read_text())
    assert HEADER_KEYS <= set(header) and header["base_model"] == model_dir.name
    assert header["library_name"] == "transformers" and header["pipeline_tag"] == "text-classification"
    assert {"bertpress", "pruning", "rte"} <= set(header["tags"]) and header["datasets"] == ["nyu-mll/glue"]
    dataset = header["model-index"][0]["results"][0]["dataset"]
    assert (dataset["type"], dataset["config"], dataset["split"]) == ("nyu-mll/glue", "rte", "validation")
    assert card_metrics(header) == report["pruned"]["metrics"]
    assert "trust_remote_code=True" in body and "- prune:" in body and "| speedup |" in body
    scopes = run_snippets(output, body)
    assert [tuple(scope["logits"].shape) for scope in scopes if "logits" in scope] == [(1, 2)]  # one pair


def test_an_embedder_card_says_sentence_transformers_and_its_agreement(tmp_path):
    output, text_file = tmp_path / "pruned", tmp_path / "texts.txt"
    text_file.write_text("\n".join(texts(96)) + "\n")
    embedder = save_embedder_folder(tmp_path / "embedder")
    assert prune_cli(embedder, output, "--text-file", str(text_file), "--macs", "0.5", "--max-length", "64") == 0
    header, body = read_card(output)
    report = json.loads((output / "report.json").read_text())
    assert header["library_name"] == "sentence-transformers" and header["pipeline_tag"] == "sentence-similarity"
    assert card_metrics(header) == report["pruned"]["metrics"] and "agreement" in card_metrics(header)
    assert str(text_file) in header["model-index"][0]["results"][0]["dataset"]["name"]
    scopes = run_snippets(output, body)
    assert [scope["embeddings"].shape for scope in scopes if "embeddings" in scope] == [(2, 32)]


def test_an_export_folder_card_names_the_graph_that_is_there(model_dir, tmp_path):
    output = tmp_path / "onnx"
    api.export(str(model_dir), output, int8=True)
    header, body = read_card(output)
    assert HEADER_KEYS <= set(header) and header["base_model"] == model_dir.name
    assert {"bertpress", "onnx", "quantization"} <= set(header["tags"]) and "model-index" not in header
    assert named_paths(body) == ["model_qint8_quantized.onnx"] and (output / "model_qint8_quantized.onnx").is_file()
    scopes = run_snippets(output, body)
    assert [tuple(scope["logits"].shape) for scope in scopes if "logits" in scope] == [(2, 2)]


def test_a_fine_tuned_folder_gets_a_card(model_dir, rte_dir, tmp_path):
    output = tmp_path / "tuned"
    config = TrainConfig(epochs=1, batch_size=8, max_length=32)
    data = DataSource(data_dir=str(rte_dir))
    report = finetune(str(model_dir), get_task("rte"), data, output, config, progress=False)
    header, body = read_card(output)
    assert header["base_model"] == model_dir.name and header["pipeline_tag"] == "text-classification"
    assert card_metrics(header) == report.epochs[-1].metrics
    assert "trust_remote_code" not in body  # a dense model needs no remote code


def test_a_card_names_the_exports_of_a_compress_folder():
    """From plain data: a folder with an OpenVINO export names its files and gets the tag."""
    files = ["config.json", "model.safetensors", "modeling_bertpress.py", "openvino/openvino_model_qint8_quantized.xml",
             "openvino/openvino_model_qint8_quantized.bin", "recipe.yaml", "report.json", "tokenizer.json"]
    steps = [{"prune": {"macs": 0.5}}, {"quantize": {"backend": "openvino", "mode": "static"}}]
    recipe = {"version": 1, "steps": steps}
    card = compress_card({"model": "minilm", "task": "mrpc"}, recipe, files)  # an optimize candidate: no measurements
    header = yaml.safe_load(card.split("---\n")[1])
    assert header["base_model"] == "sentence-transformers/all-MiniLM-L6-v2" and "model-index" not in header
    assert {"pruning", "quantization", "openvino", "mrpc"} <= set(header["tags"])
    assert set(named_paths(card)) == {"openvino", "openvino/openvino_model_qint8_quantized.xml"}


def test_every_model_alias_has_a_hub_id(tmp_path):
    assert all(base_model_id(alias) == MODEL_ALIASES[alias].hub_id for alias in MODEL_ALIASES)
    assert base_model_id(str(tmp_path)) == tmp_path.name and base_model_id("org/model") == "org/model"
