"""The analytic MAC count agrees with torch's own FLOP counter, dense and pruned; the parameter
cost model prices exactly what shrinking removes."""

import torch
from conftest import tiny_model, uneven_masks
from torch.utils.flop_counter import FlopCounterMode

from bertpress.measure.cost import ParamsCost
from bertpress.measure.macs import count_params, model_macs
from bertpress.models.adapters import get_adapter
from bertpress.models.shrink import shrink
from bertpress.prune.masks import Masks


def _counted_macs(model, seq_length: int) -> float:
    ids = torch.randint(5, 100, (1, seq_length))
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        # attentions asked for: pruned MPNet layers then run their step-by-step path, whose matmuls
        # the counter sees (it has no formula for SDPA's CPU kernel)
        model(input_ids=ids, output_attentions=True)
    return counter.get_total_flops() / 2


def test_macs_match_flop_counter_dense_and_pruned(family):
    model = tiny_model(family)
    model.config._attn_implementation = "eager"  # every matmul visible to the counter
    adapter = get_adapter(model)
    assert model_macs(adapter, 20) == _counted_macs(model, 20)
    masks = Masks.ones(adapter)
    masks.heads[0][:3] = 0
    masks.heads[2][:] = 0
    masks.neurons[1][:50] = 0
    shrink(adapter, masks.heads, masks.neurons)
    assert model_macs(adapter, 20) == _counted_macs(model, 20)


def test_the_parameter_cost_model_prices_what_shrinking_removes(family):
    model = tiny_model(family)
    adapter = get_adapter(model)
    cost = ParamsCost.of(adapter)
    before, heads, neurons = count_params(model), adapter.heads_per_layer(), adapter.neurons_per_layer()
    masks = uneven_masks(adapter)
    shrink(adapter, masks.heads, masks.neurons)
    removed = sum((h - kept) * cost.head for h, kept in zip(heads, adapter.heads_per_layer()))
    removed += sum((n - kept) * cost.neuron for n, kept in zip(neurons, adapter.neurons_per_layer()))
    assert before - count_params(model) == removed
