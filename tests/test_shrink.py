"""Physically shrunk models compute what the masked model computes, and reload both ways."""

import pytest
import torch
from conftest import tiny_model, uneven_masks
from transformers import AutoModelForSequenceClassification

from bertpress.models.adapters import get_adapter
from bertpress.models.loading import load_model
from bertpress.models.saving import save_model
from bertpress.models.shrink import shrink
from bertpress.prune.masks import Masks, apply_masks


def _inputs():
    ids = torch.randint(5, 100, (3, 9), generator=torch.Generator().manual_seed(1))
    attention = torch.ones_like(ids)
    attention[1, 6:] = 0
    return {"input_ids": ids, "attention_mask": attention}


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_masked_and_shrunk_models_agree_and_reload(family, attention, tmp_path):
    model = tiny_model(family)
    if attention == "sdpa" and not model._supports_sdpa:
        pytest.skip(f"{family} computes attention eagerly only")
    model.config._attn_implementation = attention
    adapter = get_adapter(model)
    masks = uneven_masks(adapter)
    inputs = _inputs()
    with torch.no_grad(), apply_masks(adapter, masks):
        masked = model(**inputs).logits
    shrink(adapter, masks.heads, masks.neurons)
    assert adapter.heads_per_layer() == [2, 0, 4]
    assert adapter.neurons_per_layer() == [32, 64, 0]
    with torch.no_grad():
        shrunk = model(**inputs).logits
    assert (masked - shrunk).abs().max() < 1e-5

    save_model(model, None, tmp_path)
    for reloaded in (
        load_model(str(tmp_path)),
        AutoModelForSequenceClassification.from_pretrained(tmp_path, trust_remote_code=True).eval(),
    ):
        with torch.no_grad():
            assert (reloaded(**inputs).logits - masked).abs().max() < 1e-5
        assert get_adapter(reloaded).heads_per_layer() == [2, 0, 4]


def test_a_shrunk_model_can_be_shrunk_again(family):
    model = tiny_model(family)
    adapter = get_adapter(model)
    shrink(adapter, *_as_lists(uneven_masks(adapter)))
    masks = Masks.ones(adapter)
    masks.heads[0][0] = 0
    masks.neurons[1][:10] = 0
    inputs = _inputs()
    with torch.no_grad(), apply_masks(adapter, masks):
        masked = model(**inputs).logits
    shrink(adapter, masks.heads, masks.neurons)
    assert adapter.heads_per_layer() == [1, 0, 4]
    assert adapter.neurons_per_layer() == [32, 54, 0]
    with torch.no_grad():
        assert (model(**inputs).logits - masked).abs().max() < 1e-5


def _as_lists(masks: Masks):
    return masks.heads, masks.neurons
