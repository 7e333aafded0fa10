"""ModernBERT: the fused Q/K/V projection keeps exactly the kept heads' rows of each block, the gated
FFN both rows of each kept neuron; dropping layers (layer 0 too) keeps each layer's attention type
and LayerNorms through saving and reloading; OpenVINO runs a pruned model; mask tuning is refused
in one line, and `bertpress prune` works with it off."""

from __future__ import annotations

import pytest
import torch
from conftest import (
    distinctive_model, new_inputs, pytorch_logits, run_prune, save_tiny_model, tiny_model, uneven_masks,
)
from transformers import AutoModelForSequenceClassification

from bertpress import load
from bertpress.errors import BertpressError
from bertpress.export.openvino import write_openvino
from bertpress.models.adapters import get_adapter
from bertpress.models.loading import load_model
from bertpress.models.positions import usable_positions
from bertpress.models.saving import save_model
from bertpress.models.shrink import drop_layers, shrink, shrink_heads
from bertpress.prune.masks import Masks, apply_masks
from bertpress.prune.reconstruct import reconstruct

HEAD = 8  # head size of the tiny model
WIDTH = 32  # its hidden size: the width of each of Wqkv's three blocks


def _logits(model) -> torch.Tensor:
    # longer than the local window (8), with padding, so local and global layers differ
    return pytorch_logits(model, new_inputs(3, 14))


def _reloaded(folder):
    return [load_model(str(folder)), AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True).eval()]


def test_the_fused_qkv_keeps_each_kept_heads_query_key_and_value_rows():
    model = distinctive_model("modernbert")
    adapter = get_adapter(model)
    qkv = adapter.module("layers.0.attn.Wqkv").weight.clone()
    masks = Masks.ones(adapter)
    masks.heads[0] = torch.tensor([1.0, 0.0, 1.0, 0.0])
    with apply_masks(adapter, masks):
        masked = _logits(model)
    shrink_heads(adapter, 0, [2, 0])
    rows = [block * WIDTH + head * HEAD + torch.arange(HEAD) for block in range(3) for head in (2, 0)]
    assert torch.equal(adapter.module("layers.0.attn.Wqkv").weight, qkv[torch.cat(rows)])
    assert adapter.heads_per_layer() == [2, 4, 4]
    assert (_logits(model) - masked).abs().max() < 1e-5


def test_the_gated_ffn_keeps_each_kept_neurons_input_and_gate_rows():
    model = tiny_model("modernbert")
    adapter = get_adapter(model)
    wi = adapter.module("layers.1.mlp.Wi").weight.clone()
    masks = Masks.ones(adapter)
    masks.neurons[1][::3] = 0
    masks.neurons[1][1] = 0.5
    with apply_masks(adapter, masks):
        masked = _logits(model)
    shrink(adapter, masks.heads, masks.neurons)
    kept = masks.neurons[1].nonzero().flatten()
    assert torch.equal(adapter.module("layers.1.mlp.Wi").weight, wi[torch.cat([kept, kept + 64])])
    assert (_logits(model) - masked).abs().max() < 1e-5


def test_an_emptied_attention_block_has_no_bias_and_reloads_without_missing_weights(tmp_path):
    model = tiny_model("modernbert")
    adapter = get_adapter(model)
    shrink(adapter, *_lists(uneven_masks(adapter)))  # layer 1 keeps no head
    assert adapter.module("layers.1.attn.Wo").bias is None
    save_model(model, None, tmp_path)
    for reloaded in _reloaded(tmp_path):
        assert reloaded.state_dict().keys() == model.state_dict().keys()


@pytest.mark.parametrize("dropped", [[1], [0]], ids=["local-layer", "layer-0"])
def test_dropping_layers_keeps_attention_types_and_layer_norms_through_reloading(dropped, tmp_path):
    model = distinctive_model("modernbert")
    adapter = get_adapter(model)
    types = list(model.config.layer_types)
    assert types == ["full_attention", "sliding_attention", "full_attention"]
    drop_layers(adapter, dropped)
    kept = [index for index in range(3) if index not in dropped]
    assert model.config.layer_types == [types[index] for index in kept]
    masks = Masks.ones(adapter)
    masks.heads[0] = torch.tensor([0.0, 1.2, 0.0, 0.9])
    masks.neurons[1][:20] = 0
    with apply_masks(adapter, masks):
        masked = _logits(model)
    shrink(adapter, masks.heads, masks.neurons)
    spec = model.config.bertpress
    assert spec["source_layers"] == kept
    # Layer 0 kept: its stock Identity stays. Dropped: the new layer 0 keeps its LayerNorm.
    assert list(spec["layer_norms"]) == ([] if 0 in kept else ["layers.0.attn_norm"])

    save_model(model, None, tmp_path)
    for reloaded in _reloaded(tmp_path):
        assert reloaded.config.layer_types == model.config.layer_types
        assert reloaded.state_dict().keys() == model.state_dict().keys()
        assert get_adapter(reloaded).heads_per_layer() == [2, 4]
        assert (_logits(reloaded) - masked).abs().max() < 1e-5


def test_openvino_runs_a_pruned_model_as_pytorch(tmp_path):
    model = distinctive_model("modernbert", pruned=True)
    report = write_openvino(model, tmp_path)
    assert report.max_abs_diff < 1e-4
    # converted from ONNX: OpenVINO's fused attention gives NaN where a sliding window holds only padding
    assert report.converted_from.startswith("onnx (the conversion from PyTorch was not kept: a padded position")
    inputs = new_inputs(2, 19)
    assert (load(str(tmp_path))(**inputs).logits - pytorch_logits(model, inputs)).abs().max() < 1e-4


def test_positions_are_numbered_from_zero():
    assert usable_positions(tiny_model("modernbert").config) == 130


def test_mask_tuning_is_refused_in_one_line():
    adapter = get_adapter(tiny_model("modernbert"))
    with pytest.raises(BertpressError, match="cannot fit this modernbert model: its pre-LayerNorm layers") as error:
        reconstruct(adapter, Masks.ones(adapter), [], progress=False)
    assert "\n" not in str(error.value)


def test_prune_says_so_in_one_line_and_works_with_tuning_off(tmp_path, rte_dir, capsys):
    model = save_tiny_model(tmp_path / "model", family="modernbert")
    assert run_prune(model, rte_dir, tmp_path / "tuned", "--flops", "0.5") == 2
    err = capsys.readouterr().err
    assert "--no-tune" in err and "Traceback" not in err
    assert not (tmp_path / "tuned").exists()

    output = tmp_path / "pruned"
    assert run_prune(model, rte_dir, output, "--flops", "0.5", "--no-tune") == 0
    ours, stock = _reloaded(output)
    assert get_adapter(ours).heads_per_layer() == get_adapter(stock).heads_per_layer()
    assert (_logits(ours) - _logits(stock)).abs().max() < 1e-5


def _lists(masks: Masks):
    return masks.heads, masks.neurons
