"""Recipes: reading, writing, and every bad recipe refused with one line before anything is written."""

from __future__ import annotations

import json

import pytest
from conftest import FAST_LATENCY

from bertpress.cli import main
from bertpress.errors import BertpressError
from bertpress.steps import DropLayersStep, PruneStep, QuantizeStep, Recipe


def test_a_recipe_round_trips_through_yaml_and_json(tmp_path):
    recipe = Recipe.of(
        DropLayersStep(count=2, strategy="fisher"), PruneStep(macs=0.5), QuantizeStep(backend="onnx", mode="dynamic")
    )
    for name in ("r.yaml", "r.json"):
        recipe.save(tmp_path / name)
        assert Recipe.load(tmp_path / name) == recipe
    assert json.loads((tmp_path / "r.json").read_text())["steps"][1] == {
        "prune": {"macs": 0.5, "rearrange": True, "tune": True, "reconstruct": "weights", "damping": 0.01,
                  "allow_layer_drop": False, "layer_floor": 0.5, "neuron_multiple": 1}
    }


def test_the_issue_example_reads_as_written(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(
        "steps:\n"
        "  - drop_layers: {count: 2, strategy: fisher}\n"
        "  - prune: {macs: 0.5}\n"
        "  - quantize: {backend: onnx, mode: dynamic}\n"
    )
    recipe = Recipe.load(path)
    assert recipe.steps == (DropLayersStep(count=2), PruneStep(macs=0.5), QuantizeStep())
    assert Recipe.from_dict({"steps": [{"prune": {"flops": 0.4}}]}).steps == (PruneStep(macs=0.4),)


BAD_RECIPES = {
    "empty": ("steps: []\n", "the recipe has no steps"),
    "no steps list": ("prune: {macs: 0.5}\n", "a recipe is a mapping with a 'steps' list"),
    "unknown step": ("steps:\n  - distil: {}\n", "unknown step 'distil' (steps: distill, distill_static, drop_layers, export, prune, quantize)"),
    "bad field": ("steps:\n  - prune: {macs: 0.5, speed: 2}\n", "step 'prune' has no field 'speed'"),
    "bad value": ("steps:\n  - prune: {macs: half}\n", "step 'prune': field 'macs' must be a number, not 'half'"),
    "bad choice": ("steps:\n  - drop_layers: {count: 1, strategy: middle}\n",
                   "field 'strategy' must be one of 'top', 'alternate', 'fisher', not 'middle'"),
    "two budgets": ("steps:\n  - prune: {macs: 0.5, params: 0.5}\n",
                    "give exactly one budget: macs, latency, latency_ms or params"),
    "ratio out of range": ("steps:\n  - prune: {macs: 1.5}\n", "the MACs ratio must be in (0, 1], got 1.5"),
    "quantize before prune": ("steps:\n  - quantize: {backend: onnx}\n  - prune: {macs: 0.5}\n",
                              "step 2 'prune' cannot follow 'quantize'"),
    "export after quantize": ("steps:\n  - quantize: {}\n  - export: {}\n", "step 2 'export' cannot follow 'quantize'"),
    "torch int8 after export": ("steps:\n  - export: {}\n  - quantize: {backend: torch}\n",
                                "quantize' with backend torch cannot follow 'export'"),
    "two quantize steps": ("steps:\n  - quantize: {}\n  - quantize: {}\n", "a recipe has at most one"),
    "dropping every layer": ("steps:\n  - drop_layers: {count: 3}\n",
                             "step 'drop_layers' would remove all 3 layers; keep at least one"),
    "dropping every layer in two steps": ("steps:\n  - drop_layers: {layers: [0, 1]}\n  - drop_layers: {count: 1}\n",
                                          "step 'drop_layers' would remove all 1 layers; keep at least one"),
    "layer out of range": ("steps:\n  - drop_layers: {layers: [1, 7]}\n", "layers [1, 7] are not all in 0..2"),
    "layers and count": ("steps:\n  - drop_layers: {layers: [1], count: 1}\n", "either 'layers' (a list) or 'count'"),
    "not yaml": ("steps: [prune: {\n", "is not valid YAML or JSON"),
}


@pytest.mark.parametrize("case", sorted(BAD_RECIPES))
def test_bad_recipes_are_one_line_errors_and_write_nothing(case, model_dir, rte_dir, tmp_path, capsys):
    text, message = BAD_RECIPES[case]
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(text)
    output = tmp_path / "out"
    argv = ["compress", "--model", str(model_dir), "--task", "rte", "--data-dir", str(rte_dir), "--recipe", str(recipe),
            "--output", str(output), "--num-samples", "64", *FAST_LATENCY]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("bertpress compress: error: ") and message in err, err
    assert not output.exists()


def test_a_missing_recipe_file(tmp_path):
    with pytest.raises(BertpressError, match="cannot read recipe"):
        Recipe.load(tmp_path / "absent.yaml")
