"""PyTorch int8 (torchao) on dense and pruned models; zero-size blocks are left alone."""

from __future__ import annotations

import pytest
import torch
from conftest import distinctive_model, new_inputs, pytorch_logits
from torch import nn

from bertpress.models.adapters import get_adapter
from bertpress.models.shrink import shrink
from bertpress.prune.masks import Masks
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


def test_layers_left_with_one_or_no_head_and_neuron_run_in_int8(family):
    """An optimize run's 0.25-MACs MiniLM kept one FFN neuron in a layer, and torchao failed on
    its one-input Linear ("shape '[384, 1]' is invalid for input of size 1")."""
    model = distinctive_model(family)
    adapter = get_adapter(model)
    masks = Masks.ones(adapter)
    masks.heads[0], masks.neurons[0] = torch.eye(4)[2], torch.eye(64)[7]  # one of each
    masks.heads[1], masks.neurons[1] = torch.zeros(4), torch.zeros(64)  # none
    shrink(adapter, masks.heads, masks.neurons)
    assert (adapter.heads_per_layer(), adapter.neurons_per_layer()) == ([1, 0, 4], [1, 0, 64])
    inputs = new_inputs(3, 11)
    expected = pytorch_logits(model, inputs)
    quantize(model, Int8Dynamic())
    assert (pytorch_logits(model, inputs) - expected).abs().max() < 0.05 * expected.abs().max()
    assert type(adapter.ffn_output(0).weight) is nn.Parameter  # one input: left in fp32
    assert type(adapter.ffn_input(0).weight) is not nn.Parameter  # one output, many inputs: int8
    assert type(adapter.attention_output(0).weight) is not nn.Parameter  # one head's inputs: int8


def test_int8_config_is_frozen_and_names_its_torchao_config():
    assert type(Int8Dynamic().torchao_config()).__name__ == "Int8DynamicActivationInt8WeightConfig"
    assert hash(Int8Dynamic()) == hash(Int8Dynamic())
