"""Latency and size measurement: the same timing path for PyTorch and ONNX models; clear errors."""

from __future__ import annotations

import pytest
import torch
from conftest import tiny_model

from bertpress.errors import BertpressError
from bertpress.export.onnx import export_onnx
from bertpress.measure.latency import measure_latency, sample_inputs, time_callable
from bertpress.measure.size import state_dict_size_mb, weights_size_mb
from bertpress.runtime.loading import load_any
from bertpress.models.saving import save_model


def test_sample_inputs_are_seeded_and_fully_attended():
    config = tiny_model("bert").config
    first, second = sample_inputs(config, 3, 7), sample_inputs(config, 3, 7)
    assert torch.equal(first["input_ids"], second["input_ids"]) and first["input_ids"].shape == (3, 7)
    assert int(first["input_ids"].max()) < config.vocab_size and bool(first["attention_mask"].all())


def test_pytorch_and_onnx_models_are_timed_alike(tmp_path):
    model = tiny_model("roberta")
    export_onnx(model, tmp_path / "onnx")
    exported = load_any(str(tmp_path / "onnx"))
    for subject in (model, exported):
        assert measure_latency(subject, 2, 16, threads=1, min_run_time=0.01) > 0
    assert exported.threads == 1  # ONNX Runtime got the thread count too
    assert model.device.type == "cpu"


def test_a_sequence_longer_than_the_positions_is_a_clear_error():
    with pytest.raises(BertpressError, match="cannot run 2 sequence\\(s\\) of 131 tokens"):
        measure_latency(tiny_model("bert"), 2, 131, min_run_time=0.01)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
def test_cuda_without_a_gpu_is_a_clear_error():
    with pytest.raises(BertpressError, match="sees no CUDA GPU"):
        measure_latency(tiny_model("bert"), 1, 8, device="cuda")


def test_time_callable_is_a_median_in_milliseconds():
    assert time_callable(lambda: sum(range(1000)), min_run_time=0.01) > 0


def test_weights_size_is_the_weight_files(tmp_path):
    save_model(tiny_model("bert"), None, tmp_path)
    weights = tmp_path / "model.safetensors"
    assert weights_size_mb(tmp_path) == weights_size_mb(weights) == round(weights.stat().st_size / 1e6, 3)
    assert state_dict_size_mb(tiny_model("bert")) > 0
    with pytest.raises(BertpressError, match="no model weights"):
        weights_size_mb(tmp_path / "tokenizer-only-folder-does-not-exist")
