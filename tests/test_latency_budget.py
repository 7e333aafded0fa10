"""Latency budgets: the block latency table, its fit, and the latency-aware search."""

import json

import pytest
import torch
from conftest import run_prune, tiny_model

from bertpress.errors import BertpressError
from bertpress.measure.latency import LatencySetting
from bertpress.measure.latency_table import LatencyTable, PiecewiseLinear, latency_table
from bertpress.models.adapters import get_adapter
from bertpress.measure.cost import LatencyCost
from bertpress.prune.search import search_masks
from bertpress.steps import PruneStep, Recipe


def test_piecewise_fit_recovers_flat_then_slope():
    units = [0, 1, 2, 4, 8, 16, 32, 64]
    truth = PiecewiseLinear(empty=0.1, base=2.0, threshold=8, slope=0.5)
    fitted = PiecewiseLinear.fit(units, [truth(n) for n in units])
    assert fitted.empty == 0.1
    assert fitted.base == pytest.approx(2.0) and fitted.threshold == 8 and fitted.slope == pytest.approx(0.5)


def test_latency_search_keeps_the_prediction_within_budget():
    table = LatencyTable(
        attention=PiecewiseLinear(empty=0.05, base=1.0, threshold=1, slope=0.3),
        ffn=PiecewiseLinear(empty=0.05, base=0.5, threshold=16, slope=0.02),
        key={},
    )
    generator = torch.Generator().manual_seed(0)
    heads = [torch.rand(4, generator=generator) for _ in range(3)]
    neurons = [torch.rand(64, generator=generator) for _ in range(3)]
    dense = table.encoder_ms([4] * 3, [64] * 3)
    for ratio in (0.2, 0.5, 0.8):
        masks = search_masks(heads, neurons, LatencyCost(table), ratio * dense)
        predicted = table.encoder_ms(masks.kept_heads(), masks.kept_neurons())
        assert predicted <= ratio * dense + 1e-9
        # neurons below a block's threshold are free: a kept FFN block has at least that many
        assert all(n == 0 or n >= 16 or n == 64 for n in masks.kept_neurons())


def test_tables_are_measured_once_then_cached(tmp_path):
    adapter = get_adapter(tiny_model("bert"))
    table = latency_table(adapter, 2, 8, cache_dir=tmp_path, progress=False)
    cached = list(tmp_path.iterdir())
    assert len(cached) == 1
    assert latency_table(adapter, 2, 8, cache_dir=tmp_path, progress=False) == table
    assert json.loads(cached[0].read_text())["key"]["batch_size"] == 2
    assert latency_table(adapter, 4, 8, cache_dir=tmp_path, progress=False).key["batch_size"] == 4


def test_prune_with_a_latency_budget(model_dir, rte_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("BERTPRESS_CACHE", str(tmp_path / "cache"))
    output = tmp_path / "pruned"
    # On a tiny model the blocks' empty forms (LayerNorms) take much of the time: dropping layers is
    # what meets the budget.
    assert run_prune(model_dir, rte_dir, output, "--latency", "0.6", "--allow-layer-drop") == 0
    report = json.loads((output / "report.json").read_text())
    assert report["budget"] == {"kind": "latency", "latency_ratio": 0.6, "latency_ms": None}
    # The ratio applies to the dense latency the step timed itself (the report's baseline is another timing).
    details = report["steps"][0]["details"]
    assert details["target_ms"] == pytest.approx(0.6 * details["reference_ms"], abs=1e-3)
    assert report["pruned"]["macs"] < report["baseline"]["macs"]
    assert list((tmp_path / "cache" / "latency").iterdir())
    # The saved recipe says where the latency was measured, so `compress --recipe` redoes it exactly.
    (saved,) = Recipe.load(output / "recipe.yaml").steps
    assert (saved.batch_size, saved.seq_length, saved.device) == (2, 8, "cpu")  # conftest's FAST_LATENCY
    pinned = Recipe.load(output / "recipe.yaml").latency_setting(LatencySetting())
    assert (pinned.batch_size, pinned.seq_length) == (2, 8)


def test_a_recipe_keeps_the_latency_setting_it_was_pinned_to():
    recipe = Recipe.of(PruneStep(latency=0.5)).pinned(LatencySetting(batch_size=8, seq_length=64))
    again = Recipe.from_dict(recipe.to_dict())
    assert again.latency_setting(LatencySetting()) == LatencySetting(batch_size=8, seq_length=64)
    assert again.pinned(LatencySetting()) == again  # what a recipe pins, a later run does not change
    assert Recipe.of(PruneStep(macs=0.5)).pinned(LatencySetting(batch_size=8)) == Recipe.of(PruneStep(macs=0.5))
    with pytest.raises(BertpressError, match="belong to a latency budget"):
        PruneStep(macs=0.5, batch_size=8)
    mixed = Recipe.of(PruneStep(latency=0.7, batch_size=8), PruneStep(latency=0.5, batch_size=16))
    with pytest.raises(BertpressError, match="different batch sizes"):
        mixed.latency_setting(LatencySetting())


def test_one_budget_exactly(model_dir, rte_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_prune(model_dir, rte_dir, tmp_path / "out", "--flops", "0.5", "--latency-ms", "5")
    assert exit_info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
