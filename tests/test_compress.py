"""Recipes end to end on a tiny model: steps share one state, report every step, and give what
running the steps by hand gives; layer-dropped models round-trip through every loader."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import FAST_LATENCY, new_inputs, pytorch_logits, tiny_model
from torch.utils.flop_counter import FlopCounterMode
from transformers import AutoModelForSequenceClassification

from bertpress import api, load
from bertpress.cli import main
from bertpress.export.onnx import export_onnx
from bertpress.measure.latency import LatencySetting
from bertpress.measure.macs import model_macs
from bertpress.models.adapters import get_adapter
from bertpress.models.shrink import drop_layers, shrink
from bertpress.prune.fisher import MaskGradients
from bertpress.prune.layers import choose_layers, layer_drop_order
from conftest import uneven_masks

FAST = dict(
    calibration=api.Calibration(num_samples=64),
    latency=LatencySetting(batch_size=2, seq_length=8, min_run_time=0.05),
    progress=False,
)


def compress(model_dir, rte_dir, output, *steps, **options):
    return api.compress(
        str(model_dir), "rte", output, recipe=api.Recipe.of(*steps), data=api.DataSource(data_dir=str(rte_dir)),
        **{**FAST, **options},
    )


def test_prune_then_onnx_int8_matches_prune_then_export_by_hand(model_dir, rte_dir, tmp_path):
    report = compress(model_dir, rte_dir, tmp_path / "recipe", api.PruneStep(macs=0.5), api.QuantizeStep())
    assert [step.name for step in report.steps] == ["prune", "quantize"]
    assert report.backend == "onnx-int8"
    saved = tmp_path / "recipe"
    onnx_files = {p.name for p in (saved / "onnx").iterdir()}
    assert {"config.json", "export.json", "model_qint8_quantized.onnx", "tokenizer.json"} <= onnx_files
    assert "model.onnx" not in onnx_files
    assert api.Recipe.load(saved / "recipe.yaml") == api.Recipe.of(api.PruneStep(macs=0.5), api.QuantizeStep())

    by_hand = api.prune(str(model_dir), "rte", tmp_path / "hand", config=api.PruneStep(macs=0.5),
                        data=api.DataSource(data_dir=str(rte_dir)), **FAST)
    api.export(str(tmp_path / "hand"), tmp_path / "hand-onnx", int8=True)
    inputs = new_inputs(4, 9)
    assert torch.equal(pytorch_logits(load(str(saved)), inputs), pytorch_logits(load(str(tmp_path / "hand")), inputs))
    recipe_int8, hand_int8 = load(str(saved / "onnx")), load(str(tmp_path / "hand-onnx"))
    assert torch.equal(recipe_int8(**inputs).logits, hand_int8(**inputs).logits)
    assert report.steps[0].metrics == by_hand.pruned.metrics
    assert report.pruned.metrics == report.steps[-1].metrics


def test_drop_then_prune_matches_the_two_steps_by_hand(model_dir, rte_dir, tmp_path):
    report = compress(model_dir, rte_dir, tmp_path / "recipe", api.DropLayersStep(count=1), api.PruneStep(macs=0.5))
    data = report.to_dict()
    assert [step["name"] for step in data["steps"]] == ["drop_layers", "prune"]
    assert all(key in data["steps"][0] for key in ("config", "seconds", "metrics", "macs", "params"))
    (dropped,) = data["steps"][0]["details"]["dropped_layers"]
    assert data["dropped_layers"] == [dropped]
    assert report.macs_ratio <= 0.5 * 1.01  # of the starting model, as the recipe says

    compress(model_dir, rte_dir, tmp_path / "dropped", api.DropLayersStep(count=1))
    # By hand, the prune's ratio is relative to the 2-layer model: 0.5 of 3 layers = 0.75 of 2.
    compress(tmp_path / "dropped", rte_dir, tmp_path / "hand", api.PruneStep(macs=0.75))
    recipe_state, hand_state = load(str(tmp_path / "recipe")).state_dict(), load(str(tmp_path / "hand")).state_dict()
    assert recipe_state.keys() == hand_state.keys()
    assert all(torch.allclose(recipe_state[k], hand_state[k], atol=1e-6) for k in recipe_state)


@pytest.mark.parametrize("family", ["bert", "distilbert"])
def test_a_layer_dropped_model_round_trips_to_the_same_logits(family, tmp_path):
    from conftest import tokenizer_for

    from bertpress.models.saving import save_model

    model = tiny_model(family)
    adapter = get_adapter(model)
    masks = uneven_masks(adapter)
    shrink(adapter, masks.heads, masks.neurons)
    drop_layers(adapter, [1])
    assert adapter.num_layers == 2 and adapter.heads_per_layer() == [2, 4]
    (tmp_path / "model").mkdir()
    save_model(model, tokenizer_for(family), tmp_path / "model")
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["num_hidden_layers" if family == "bert" else "n_layers"] == 2
    assert config["bertpress"]["source_layers"] == [0, 2]

    inputs = new_inputs(3, 11)
    expected = pytorch_logits(model, inputs)
    reloaded = load(str(tmp_path / "model"))
    stock = AutoModelForSequenceClassification.from_pretrained(tmp_path / "model", trust_remote_code=True).eval()
    assert (pytorch_logits(reloaded, inputs) - expected).abs().max() < 1e-5
    assert (pytorch_logits(stock, inputs) - expected).abs().max() < 1e-5
    export_onnx(model, tmp_path / "onnx")
    exported = load(str(tmp_path / "onnx"))
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if family == "bert" else [])
    assert (exported(**{n: inputs[n] for n in names}).logits - expected).abs().max() < 1e-4

    model.config._attn_implementation = "eager"  # every matmul visible to the counter
    ids = torch.randint(5, 100, (1, 20))
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(input_ids=ids)
    assert model_macs(adapter, 20) == counter.get_total_flops() / 2
    assert api.info(str(tmp_path / "model")).source_layers == [0, 2]


def test_layer_choice_strategies():
    assert choose_layers("top", 2, 6) == [4, 5]
    assert choose_layers("alternate", 2, 6) == [3, 5]
    assert choose_layers("alternate", 4, 6) == [1, 3, 4, 5]
    # Layer 1's units pull the loss one way in every batch, layer 0's cancel out, layer 2's are large.
    heads = [torch.tensor([[1.0, -1.0]] * 4), torch.tensor([[0.5, 0.5]] * 4), torch.tensor([[3.0, 0.0]] * 4)]
    neurons = [torch.zeros(4, 3)] * 3
    gradients = MaskGradients(heads, neurons)
    order, losses = layer_drop_order(gradients)
    assert order[:2] == [0, 1] and losses[:3] == [0.0, 0.0, 2.0]
    assert choose_layers("fisher", 1, 3, gradients) == [0]


def test_the_search_may_drop_layers_under_a_budget(model_dir, rte_dir, tmp_path):
    report = compress(model_dir, rte_dir, None, api.PruneStep(macs=0.3, allow_layer_drop=True))
    assert report.macs_ratio <= 0.3 * 1.02
    assert len(report.heads_per_layer) + len(report.dropped_layers) == 3
    assert report.steps[0].details["dropped_layers"] == report.dropped_layers


def test_compress_cli_runs_a_recipe_file(model_dir, rte_dir, tmp_path, capsys):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("steps:\n  - drop_layers: {layers: [2]}\n  - prune: {macs: 0.5}\n")
    output = tmp_path / "out"
    argv = ["compress", "--model", str(model_dir), "--task", "rte", "--data-dir", str(rte_dir), "--recipe",
            str(recipe), "--output", str(output), "--num-samples", "64", "--seed", "1", *FAST_LATENCY]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "drop_layers" in printed and "speedup" in printed
    report = json.loads((output / "report.json").read_text())
    assert report["report"] == "compress" and report["dropped_layers"] == [2]
    assert api.CompressReport.from_dict(report).to_dict() == report
    assert load(str(output)).config.num_hidden_layers == 2


def test_a_params_budget_and_torch_int8_that_reloads_quantized(model_dir, rte_dir, tmp_path):
    report = compress(model_dir, rte_dir, tmp_path / "out", api.PruneStep(params=0.9), api.QuantizeStep(backend="torch"))
    assert report.backend == "torch-int8" and report.params_ratio <= 0.9
    assert report.to_dict()["budget"] == {"kind": "params", "params_ratio": 0.9}
    model = load(str(tmp_path / "out"))
    weight = model.bert.encoder.layer[0].intermediate.dense.weight
    assert type(weight) is not torch.nn.Parameter  # a torchao int8 tensor
    data = api.DataSource(data_dir=str(rte_dir))
    assert api.evaluate(str(tmp_path / "out"), "rte", data=data, progress=False).metrics == report.pruned.metrics


def test_budgets_that_cannot_be_met_are_one_line_errors(model_dir, rte_dir):
    with pytest.raises(api.BertpressError, match="below what the embeddings and the head alone keep"):
        compress(model_dir, rte_dir, None, api.PruneStep(params=0.05))
    with pytest.raises(api.BertpressError, match="below what the model's non-encoder parts take|cannot be met"):
        compress(model_dir, rte_dir, None, api.PruneStep(latency_ms=1e-6))


def test_export_then_quantize_leaves_only_the_int8_graph(model_dir, rte_dir, tmp_path):
    report = compress(model_dir, rte_dir, tmp_path / "out", api.ExportStep(), api.QuantizeStep())
    assert report.backend == "onnx-int8" and report.steps[0].details["int8_max_abs_diff"] is None
    assert report.steps[1].details["int8_max_abs_diff"] is not None
    files = {p.name for p in (tmp_path / "out" / "onnx").iterdir()}
    assert "model_qint8_quantized.onnx" in files and "model.onnx" not in files
    data = api.DataSource(data_dir=str(rte_dir))
    assert api.evaluate(str(tmp_path / "out" / "onnx"), "rte", data=data, progress=False).metrics == report.pruned.metrics
