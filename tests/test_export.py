"""ONNX export of dense and pruned models of every family: the logits PyTorch computes, on shapes
other than the traced one; int8; the wrapper evaluation uses; which ORT fusions fit pruned layers."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import (
    FAMILIES,
    distinctive_model,
    new_inputs,
    pytorch_logits,
    save_tiny_model,
    tiny_model,
)

from bertpress.cli import main
from bertpress.errors import BertpressError
from bertpress.export.onnx import TOLERANCE, export_onnx
from bertpress.runtime.exported import ExportedModel
from bertpress.export.fusions import fuse_transformer_ops
from bertpress.runtime.loading import load_any
from bertpress.models.saving import save_model


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """``exports(family, pruned, int8)`` -> (PyTorch model, export folder, report), made once per module."""
    made = {}

    def export(family: str, pruned: bool = False, int8: bool = False):
        key = (family, pruned, int8)
        if key not in made:
            model = distinctive_model(family, pruned)
            folder = tmp_path_factory.mktemp(f"{family}-{'pruned' if pruned else 'dense'}{'-int8' if int8 else ''}")
            made[key] = (model, folder / "onnx", export_onnx(model, folder / "onnx", int8=int8))
        return made[key]

    return export


# Every family pruned (uneven heads and neurons per layer: the harder graph); dense, BERT and the
# family without token types (each dense export takes seconds, and the pruned one runs the same code).
EXPORTED = [(family, True) for family in sorted(FAMILIES)] + [("bert", False), ("distilbert", False)]


@pytest.mark.parametrize("family,pruned", [pytest.param(f, p, id=f"{f}-{'pruned' if p else 'dense'}") for f, p in EXPORTED])
def test_onnx_logits_match_pytorch_on_new_shapes(family, pruned, exports):
    model, folder, report = exports(family, pruned)
    assert report.file == "model.onnx" and report.max_abs_diff <= TOLERANCE
    exported = load_any(str(folder))
    assert isinstance(exported, ExportedModel)
    for shape in [(5, 21), (1, 1)]:
        inputs = new_inputs(*shape)
        expected = pytorch_logits(model, inputs)
        assert (exported(**inputs).logits - expected).abs().max() <= TOLERANCE, shape
    assert expected.abs().max() > 0.3  # logits large enough for the tolerance to mean something


@pytest.mark.parametrize("family", ["bert", "distilbert", "mpnet", "deberta-v2", "modernbert"])
def test_int8_export_runs_close_to_pytorch_and_is_smaller(family, exports):
    model, folder, report = exports(family, pruned=True, int8=True)
    names = ["README.md", "config.json", "export.json", "model_qint8_quantized.onnx"]  # README.md: the model card
    assert sorted(path.name for path in folder.iterdir()) == names
    assert report.max_abs_diff <= TOLERANCE  # the fp32 graph it was quantized from
    inputs = new_inputs(4, 17)
    expected = pytorch_logits(model, inputs)
    error = (load_any(str(folder))(**inputs).logits - expected).abs().max()
    assert error < 0.05 * expected.abs().max()
    assert report.int8_max_abs_diff < 0.05 * expected.abs().max()
    assert report.size_mb < exports(family, pruned=True)[2].size_mb
    assert json.loads((folder / "export.json").read_text())["file"] == "model_qint8_quantized.onnx"


def test_the_wrapper_takes_what_a_tokenizer_gives(exports):
    _, folder, _ = exports("distilbert")
    exported = load_any(str(folder))
    ids = torch.randint(5, 100, (2, 6))
    logits = exported(input_ids=ids).logits  # the attention mask defaults to all ones
    assert logits.shape == (2, exported.config.num_labels) and logits.dtype == torch.float32
    # DistilBERT's graph takes no token types: a tokenizer's are ignored.
    with_types = exported(input_ids=ids, attention_mask=torch.ones_like(ids), token_type_ids=torch.ones_like(ids))
    assert torch.equal(logits, with_types.logits)
    assert exported.eval() is exported and exported.to("cpu") is exported
    with pytest.raises(BertpressError, match="exported models run on the cpu"):
        exported.to("cuda")


def test_evaluate_scores_an_export_as_its_pytorch_model(tmp_path, glue_dir, capsys):
    source = save_tiny_model(tmp_path / "torch", family="bert")
    export = ["export", "--model", str(source), "--output", str(tmp_path / "onnx")]
    assert main([*export, "--json", str(tmp_path / "export.json")]) == 0
    report = json.loads((tmp_path / "export.json").read_text())
    assert report["output"] == str(tmp_path / "onnx")
    assert report["inputs"] == ["input_ids", "attention_mask", "token_type_ids"]
    assert (tmp_path / "onnx" / "tokenizer_config.json").is_file()
    scores = {}
    for name in ("torch", "onnx"):
        out = tmp_path / f"{name}.json"
        evaluate = ["evaluate", "--model", str(tmp_path / name), "--task", "rte", "--data-dir", str(glue_dir)]
        assert main([*evaluate, "--json", str(out)]) == 0
        scores[name] = json.loads(out.read_text())["metrics"]
    assert scores["onnx"] == pytest.approx(scores["torch"])
    out = capsys.readouterr().out
    assert "fusions by onnxruntime.transformers.optimizer" in out and "fusions by onnxscript ort_fusions" in out


def test_attention_fuses_per_layer_in_pruned_models(exports):
    _, _, report = exports("bert", True)
    ort_pass, per_layer = report.fusions
    assert per_layer.step == "onnxscript ort_fusions" and not per_layer.rejected
    assert per_layer.fused_operators["attention"] == 2  # layers 0 and 2 keep heads; layer 1 has none
    assert report.max_abs_diff <= TOLERANCE


def _torchscript_export(model, path) -> None:
    """The legacy exporter, whose attention pattern ORT's optimizer recognises."""
    model.config._attn_implementation = "eager"
    ids = torch.randint(5, 100, (2, 8))
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}}
    torch.onnx.export(
        model, (), str(path), kwargs={"input_ids": ids, "attention_mask": torch.ones_like(ids)},
        dynamo=False, input_names=list(axes), output_names=["logits"], dynamic_axes=axes,
    )


@pytest.mark.filterwarnings("ignore")  # the legacy exporter's tracing warnings
@pytest.mark.parametrize("pruned", [False, True], ids=["dense", "pruned"])
def test_fused_attention_with_the_dense_head_count_fits_only_dense_layers(pruned, tmp_path):
    _torchscript_export(distinctive_model("bert", pruned), tmp_path / "model.onnx")
    fusions = fuse_transformer_ops(tmp_path / "model.onnx", tmp_path / "fused.onnx", num_heads=4, hidden_size=32)
    if pruned:  # layer 0 keeps 2 of 4 heads; layer 1 none (no attention left to fuse)
        assert fusions.fused_operators["Attention"] == 2
        assert "assumes 4 heads in every layer" in fusions.rejected
        assert not (tmp_path / "fused.onnx").exists()
    else:
        assert fusions.fused_operators["Attention"] == 3 and not fusions.rejected
        assert (tmp_path / "fused.onnx").is_file()


def test_export_bad_input_is_one_line(tmp_path, exports, capsys):
    source = tmp_path / "model"
    source.mkdir()
    save_model(tiny_model("bert"), None, source)
    _, onnx_folder, _ = exports("bert")
    capsys.readouterr()  # setup's progress bars
    cases = {
        "model folder not found": ["--model", str(tmp_path / "absent"), "--output", str(tmp_path / "out")],
        "is, or holds, input": ["--model", str(source), "--output", str(source), "--overwrite"],
        "is already an exported model": ["--model", str(onnx_folder), "--output", str(tmp_path / "out")],
    }
    for message, argv in cases.items():
        assert main(["export", *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("bertpress export: error: ") and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()
