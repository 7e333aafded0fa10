"""Every family has an adapter; an unknown family is a clear error."""

import pytest
from conftest import tiny_model
from transformers import GPT2Config, GPT2ForSequenceClassification

from bertpress.errors import BertpressError
from bertpress.models.adapters import get_adapter


def test_adapter_finds_every_layer_part(family):
    adapter = get_adapter(tiny_model(family))
    assert adapter.num_layers == 3 and adapter.head_size == 8 and adapter.hidden_size == 32
    assert adapter.heads_per_layer() == [4, 4, 4]
    assert adapter.neurons_per_layer() == [64, 64, 64]
    for index in range(3):
        paths = adapter.layer_paths(index)
        for name in ("query", "key", "value", "attention_output", "ffn_input", "ffn_output"):
            assert adapter.module(getattr(paths, name)).weight.ndim == 2
        assert adapter.attention_norm(index).normalized_shape == (32,)
        assert adapter.ffn_norm(index).normalized_shape == (32,)


def test_unknown_family_is_a_clear_error():
    model = GPT2ForSequenceClassification(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=50))
    with pytest.raises(BertpressError, match="no adapter for model family 'gpt2'"):
        get_adapter(model)
