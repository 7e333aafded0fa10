"""DeBERTa-v2 with its own position projections (``share_att_key=False``): their rows go with the
heads, each pruned layer carries its head count, through shrinking again, dropping layers, saving,
reloading and export; and what mask tuning refuses."""

from __future__ import annotations

import pytest
import torch
from conftest import DEBERTA_V3, new_inputs, pytorch_logits, uneven_masks
from transformers import AutoModelForSequenceClassification, DebertaV2Config, DebertaV2ForSequenceClassification

from bertpress.errors import BertpressError
from bertpress.export.onnx import TOLERANCE, export_onnx
from bertpress.models.adapters import get_adapter
from bertpress.models.loading import load_model
from bertpress.models.saving import save_model
from bertpress.models.shrink import drop_layers, shrink
from bertpress.prune.masks import Masks, apply_masks
from bertpress.prune.reconstruct import reconstruct


def _model(**options):
    """Position projections of its own per layer, both cross terms, position weights that matter."""
    torch.manual_seed(0)
    config = DebertaV2Config(num_labels=2, **{**DEBERTA_V3, "share_att_key": False, **options})
    model = DebertaV2ForSequenceClassification(config).eval()
    with torch.no_grad():
        model.base_model.encoder.rel_embeddings.weight.mul_(20)
        model.classifier.weight.mul_(10)
    return model


def _logits(model) -> torch.Tensor:
    return pytorch_logits(model, new_inputs(3, 11))


def test_own_position_projections_shrink_with_the_heads_and_reload(tmp_path):
    model = _model()
    adapter = get_adapter(model)
    assert set(adapter.head_projections(0)) >= {
        "encoder.layer.0.attention.self.pos_key_proj", "encoder.layer.0.attention.self.pos_query_proj"
    }
    masks = uneven_masks(adapter)
    with apply_masks(adapter, masks):
        masked = _logits(model)
    shrink(adapter, masks.heads, masks.neurons)
    attention = adapter.module(adapter.layer_paths(0).attention)
    assert attention.num_attention_heads == 2 and attention.pos_key_proj.out_features == 16
    assert (_logits(model) - masked).abs().max() < 1e-5

    save_model(model, None, tmp_path)
    for reloaded in (
        load_model(str(tmp_path)),
        AutoModelForSequenceClassification.from_pretrained(tmp_path, trust_remote_code=True).eval(),
    ):
        assert reloaded.base_model.get_submodule("encoder.layer.0.attention.self").num_attention_heads == 2
        assert (_logits(reloaded) - masked).abs().max() < 1e-5


def test_shrinking_again_after_dropping_a_layer(tmp_path):
    model = _model()
    adapter = get_adapter(model)
    shrink(adapter, *_lists(uneven_masks(adapter)))  # heads kept: [1, 3], none, all four
    drop_layers(adapter, [1])
    masks = Masks.ones(adapter)
    masks.heads[0] = torch.tensor([0.0, 1.1])
    masks.heads[1] = torch.tensor([1.0, 0.0, 0.7, 0.0])
    with apply_masks(adapter, masks):
        masked = _logits(model)
    shrink(adapter, masks.heads, masks.neurons)
    assert model.config.bertpress["kept_heads"] == {
        "encoder.layer.0.attention.self": [3], "encoder.layer.1.attention.self": [0, 2]
    }
    assert (_logits(model) - masked).abs().max() < 1e-5
    save_model(model, None, tmp_path)
    assert (_logits(load_model(str(tmp_path))) - masked).abs().max() < 1e-5


def test_onnx_export_of_own_position_projections(tmp_path):
    model = _model()
    adapter = get_adapter(model)
    shrink(adapter, *_lists(uneven_masks(adapter)))
    assert export_onnx(model, tmp_path / "onnx").max_abs_diff <= TOLERANCE


def test_mask_tuning_refuses_the_convolution_between_layers():
    model = _model(conv_kernel_size=3)
    adapter = get_adapter(model)
    batch = {"input_ids": new_inputs(3, 11)["input_ids"], "labels": torch.zeros(3, dtype=torch.long)}
    with pytest.raises(BertpressError, match="convolves layer 0's output"):
        reconstruct(adapter, Masks.ones(adapter), [batch], progress=False)


def _lists(masks: Masks):
    return masks.heads, masks.neurons
