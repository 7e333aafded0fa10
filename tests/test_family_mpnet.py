"""MPNet's one relative-position bias table, shared by all layers: a pruned layer adds exactly the
columns of the heads it keeps, in the order it keeps them, through shrinking again, dropping
layers, saving and reloading; its positions; and its sentence embeddings."""

from __future__ import annotations

import random

import torch
from conftest import make_tokenizer, pytorch_logits, random_sentence, tiny_model, uneven_masks
from sentence_transformers import SentenceTransformer
from transformers import AutoModelForSequenceClassification, MPNetConfig, MPNetModel

from bertpress.measure.embeddings import embed
from bertpress.models.adapters import get_adapter
from bertpress.models.embedder import SentenceEmbedder, load_embedder, save_embedder
from bertpress.models.loading import load_model
from bertpress.models.pooling import Pooling
from bertpress.models.positions import usable_positions
from bertpress.models.saving import save_model
from bertpress.models.shrink import drop_layers, pruning_spec, shrink, shrink_heads
from bertpress.prune.masks import Masks, apply_masks


def _inputs():
    # these inputs show a wrong bias column far above the tolerance (see the out-of-order test)
    ids = torch.randint(5, 100, (3, 11), generator=torch.Generator().manual_seed(2))
    attention = torch.ones_like(ids)
    attention[1, 7:] = 0
    return {"input_ids": ids, "attention_mask": attention}


def _biased_model():
    """A tiny MPNet whose position bias outweighs its content scores, so a wrong column shows."""
    model = tiny_model("mpnet")
    with torch.no_grad():
        model.base_model.encoder.relative_attention_bias.weight.mul_(200)
        model.classifier.dense.weight.mul_(10)
        model.classifier.out_proj.weight.mul_(10)
    return model


def _logits(model, inputs=None) -> torch.Tensor:
    return pytorch_logits(model, inputs or _inputs())


def _reloaded(folder):
    return [load_model(str(folder)), AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True).eval()]


def test_a_layer_keeping_heads_out_of_order_adds_exactly_their_bias_columns(tmp_path):
    model = _biased_model()
    adapter = get_adapter(model)
    masks = Masks.ones(adapter)
    masks.heads[0] = torch.tensor([1.0, 0.0, 1.0, 0.0])
    with apply_masks(adapter, masks):
        masked = _logits(model)
    shrink_heads(adapter, 0, [2, 0])
    assert adapter.module(adapter.layer_paths(0).attention).kept_heads == [2, 0]
    assert (_logits(model) - masked).abs().max() < 1e-5

    model.config.bertpress = pruning_spec(adapter)
    assert model.config.bertpress["kept_heads"] == {"encoder.layer.0.attention.attn": [2, 0]}
    save_model(model, None, tmp_path)
    for reloaded in _reloaded(tmp_path):
        assert reloaded.base_model.get_submodule("encoder.layer.0.attention.attn").kept_heads == [2, 0]
        assert (_logits(reloaded) - masked).abs().max() < 1e-5

    # The same weights with the columns of heads [0, 2] (the stock order) compute something else.
    adapter.module(adapter.layer_paths(0).attention).kept_heads = [0, 2]
    assert (_logits(model) - masked).abs().max() > 1e-2


def test_a_second_shrink_composes_the_kept_heads():
    model = _biased_model()
    adapter = get_adapter(model)
    shrink(adapter, *_lists(uneven_masks(adapter)))  # layer 0 keeps heads [1, 3]
    masks = Masks.ones(adapter)
    masks.heads[0] = torch.tensor([0.0, 0.8])
    with apply_masks(adapter, masks):
        masked = _logits(model)
    shrink(adapter, masks.heads, masks.neurons)
    assert model.config.bertpress["kept_heads"] == {
        "encoder.layer.0.attention.attn": [3], "encoder.layer.2.attention.attn": [0, 1, 2, 3]
    }
    assert (_logits(model) - masked).abs().max() < 1e-5


def test_shrinking_after_dropping_layers_keeps_each_layer_its_columns(tmp_path):
    model = _biased_model()
    adapter = get_adapter(model)
    shrink(adapter, *_lists(uneven_masks(adapter)))  # heads kept: [1, 3], none, all four
    drop_layers(adapter, [1])
    assert model.config.bertpress["kept_heads"] == {
        "encoder.layer.0.attention.attn": [1, 3], "encoder.layer.1.attention.attn": [0, 1, 2, 3]
    }
    masks = Masks.ones(adapter)
    masks.heads[1] = torch.tensor([0.0, 1.2, 0.0, 0.9])
    with apply_masks(adapter, masks):
        masked = _logits(model)
    shrink(adapter, masks.heads, masks.neurons)
    spec = model.config.bertpress
    assert spec["kept_heads"]["encoder.layer.1.attention.attn"] == [1, 3] and spec["source_layers"] == [0, 2]
    assert (_logits(model) - masked).abs().max() < 1e-5

    save_model(model, None, tmp_path)
    for reloaded in _reloaded(tmp_path):
        assert get_adapter(reloaded).heads_per_layer() == [2, 2]
        assert (_logits(reloaded) - masked).abs().max() < 1e-5


def test_a_pruned_layer_fuses_its_attention_into_the_numbers_of_the_stock_steps(tmp_path):
    model = _biased_model()
    adapter = get_adapter(model)
    shrink(adapter, *_lists(uneven_masks(adapter)))  # heads kept: [1, 3], none, all four
    attention = adapter.module(adapter.layer_paths(0).attention)
    assert not attention.training  # shrinking an eval model leaves no dropout switched on
    # The encoder now hands one row of position bias, broadcast over the batch (the stock one copies it).
    hidden = torch.zeros(3, 11, model.config.hidden_size)
    assert model.base_model.encoder.compute_position_bias(hidden).shape == (1, 4, 11, 11)
    fused = _logits(model)
    with torch.no_grad():  # asking for the probabilities runs the stock steps instead of the fused kernel
        stock = model(**_inputs(), output_attentions=True)
    assert stock.attentions[0].shape == (3, 2, 11, 11)
    assert (stock.logits - fused).abs().max() < 1e-5 and fused.abs().max() > 0.3

    model.train()
    torch.manual_seed(0)
    dropped = model(**_inputs()).logits
    assert (dropped - fused).abs().max() > 1e-3  # training: the fused kernel applies the dropout too


def test_positions_are_numbered_from_two():
    assert usable_positions(tiny_model("mpnet").config) == 128


def test_a_pruned_mpnet_embedder_round_trips_and_sentence_transformers_reads_it(tmp_path):
    torch.manual_seed(0)
    config = MPNetConfig(
        vocab_size=120, max_position_embeddings=130, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
        intermediate_size=64,
    )
    embedder = SentenceEmbedder(MPNetModel(config).eval(), Pooling("mean", normalize=True, max_seq_length=64))
    adapter = get_adapter(embedder)
    shrink(adapter, *_lists(uneven_masks(adapter)))
    # Token types from a BERT tokenizer never reach MPNet, which takes none.
    tokenizer = make_tokenizer()
    rng = random.Random(0)
    sentences = [random_sentence(rng) for _ in range(12)]
    ours = embed(embedder, tokenizer, sentences, progress=False)
    save_embedder(embedder, tokenizer, tmp_path)
    assert torch.allclose(embed(load_embedder(str(tmp_path)), tokenizer, sentences, progress=False), ours, atol=1e-5)
    theirs = SentenceTransformer(str(tmp_path), device="cpu", trust_remote_code=True).encode(sentences, convert_to_tensor=True)
    assert torch.allclose(theirs, ours, atol=1e-5)


def _lists(masks: Masks):
    return masks.heads, masks.neurons
