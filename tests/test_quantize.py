"""PyTorch int8 (torchao) on dense and pruned models; zero-size blocks are left alone."""

from __future__ import annotations

import pytest
from conftest import distinctive_model, new_inputs, pytorch_logits
from torch import nn

from bertpress.models.adapters import get_adapter
from bertpress.quantize import Int8Dynamic, quantize


@pytest.mark.parametrize("pruned", [False, True], ids=["dense", "pruned"])
def test_torch_int8_runs_close_to_fp32(family, pruned):
    model = distinctive_model(family, pruned)
    sizes = (get_adapter(model).heads_per_layer(), get_adapter(model).neurons_per_layer())
    inputs = new_inputs(3, 11)
    expected = pytorch_logits(model, inputs)
    assert quantize(model, Int8Dynamic()) is model
    assert (pytorch_logits(model, inputs) - expected).abs().max() < 0.05 * expected.abs().max()
    adapter = get_adapter(model)
    assert (adapter.heads_per_layer(), adapter.neurons_per_layer()) == sizes
    assert type(adapter.ffn_input(0).weight) is not nn.Parameter  # a torchao int8 tensor


def test_zero_size_linears_of_emptied_blocks_stay_as_they_are():
    model = quantize(distinctive_model("distilbert", pruned=True))
    emptied = get_adapter(model).ffn_input(2)
    assert emptied.weight.numel() == 0 and type(emptied.weight) is nn.Parameter


def test_int8_config_is_frozen_and_names_its_torchao_config():
    assert type(Int8Dynamic().torchao_config()).__name__ == "Int8DynamicActivationInt8WeightConfig"
    assert hash(Int8Dynamic()) == hash(Int8Dynamic())
