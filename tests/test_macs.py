"""The analytic MAC count agrees with torch's own FLOP counter, dense and pruned."""

import torch
from conftest import tiny_model
from torch.utils.flop_counter import FlopCounterMode

from bertpress.measure.macs import model_macs
from bertpress.models.adapters import get_adapter
from bertpress.models.shrink import shrink
from bertpress.prune.masks import Masks


def _counted_macs(model, seq_length: int) -> float:
    ids = torch.randint(5, 100, (1, seq_length))
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(input_ids=ids)
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
