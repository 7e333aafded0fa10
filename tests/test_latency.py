"""Latency and size measurement: the same timing path for PyTorch and ONNX models; clear errors;
comparisons in interleaved rounds, and timings that hold whatever else ran in the process."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from conftest import tiny_model

from bertpress.errors import BertpressError
from bertpress.export.onnx import export_onnx
from bertpress.measure.latency import (
    ROUNDS,
    LatencySetting,
    Timing,
    compare_latency,
    interleave,
    measure_latency,
    round_timer,
    sample_inputs,
    time_callable,
)
from bertpress.measure.machine import FEATURES, this_machine
from bertpress.measure.size import state_dict_size_mb, weights_size_mb
from bertpress.runtime.loading import load_any
from bertpress.models.saving import save_model
from bertpress.steps.backends import deploy, timing_state


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


def test_interleaved_rounds_alternate_and_give_the_median_and_range():
    calls = []

    def timer(name, values):
        def run(seconds):
            calls.append(name)
            return values[len([c for c in calls if c == name]) - 1]
        return run

    timings = interleave({"a": timer("a", [5.0, 1.0, 3.0]), "b": timer("b", [2.0, 2.0, 2.0])}, 0.01, rounds=3)
    assert calls == ["a", "b", "b", "a", "a", "b"]  # no timer always runs right after the same other one
    assert timings["a"] == Timing(3.0, 4.0, 3) and timings["b"] == Timing(2.0, 0.0, 3)


def test_compare_latency_times_each_model_in_rounds():
    setting = LatencySetting(2, 16, threads=1, min_run_time=0.05)
    timings = compare_latency({"bert": tiny_model("bert"), "roberta": tiny_model("roberta")}, setting)
    assert set(timings) == {"bert", "roberta"}
    assert all(t.rounds == ROUNDS and t.median_ms > 0 and t.spread_ms >= 0 for t in timings.values())


def test_onnx_runtime_sessions_do_not_spin(tmp_path):
    # Spinning threads of an idle session would steal cores from whatever is timed next.
    export_onnx(tiny_model("bert"), tmp_path / "onnx")
    options = load_any(str(tmp_path / "onnx")).session.get_session_options()
    for entry in ("session.intra_op.allow_spinning", "session.inter_op.allow_spinning"):
        assert options.get_session_config_entry(entry) == "0"


def test_the_machine_names_its_cpu_features_and_each_runtimes_threads():
    machine = this_machine(3)
    assert machine.threads == {"torch": 3, "onnxruntime": 3, "openvino": 3}
    assert set(machine.features) <= set(FEATURES) and machine.cores >= 1 and machine.cpu
    assert "torch 3" in machine.describe() and "torch" in machine.versions


# Times the exported model in the folder argv[1] alone in its process, one round per line of stdin.
ALONE = """
import sys
from bertpress.measure.latency import LatencySetting, round_timer
from bertpress.runtime.loading import load_exported
setting = LatencySetting(int(sys.argv[2]), int(sys.argv[3]), threads=int(sys.argv[4]))
with round_timer(load_exported(sys.argv[1]), setting) as timer:
    print("ready", flush=True)
    for line in sys.stdin:
        print(timer(float(line)), flush=True)
"""


def test_a_timing_after_other_runtimes_matches_one_taken_alone(tmp_path):
    """OpenVINO timed right after ONNX Runtime and PyTorch ran in the same process (each round),
    against the same file timed in a process of its own, the two interleaved round by round."""
    threads = 2  # ONNX Runtime and PyTorch keep worker threads that could still be spinning
    setting = LatencySetting(4, 32, threads=threads)
    model = tiny_model("bert")
    others = [model, deploy(timing_state(model, tmp_path, setting), "onnx-int8").final_model]
    subject = deploy(timing_state(model, tmp_path, setting), "openvino-fp32")
    alone = subprocess.Popen(
        [sys.executable, "-c", ALONE, str(subject.export_dir), "4", "32", str(threads)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert alone.stdout.readline().strip() == "ready"

    def alone_timer(seconds: float) -> float:
        alone.stdin.write(f"{seconds}\n")
        alone.stdin.flush()
        return float(alone.stdout.readline())

    with torch.inference_mode(), round_timer(subject.final_model, setting) as subject_timer:
        inputs = sample_inputs(model.config, 4, 32)

        def after_others(seconds: float) -> float:
            """A round of the subject right after the others ran, as in ``compare_latency``."""
            for other in others:
                other(**inputs)
            return subject_timer(seconds)

        timings = interleave({"after others": after_others, "alone": alone_timer}, 0.2, rounds=7)
    alone.stdin.close()
    alone.wait(timeout=60)
    after, single = timings["after others"], timings["alone"]
    # A one-millisecond timing moves between processes (caches, placement) more than its spread
    # within one shows: 6% and then 16% in two CI runs on this shared 2-core machine. Spinning
    # worker threads, what this guards against, would hold both cores while the subject runs.
    allowed = max(after.spread_ms, single.spread_ms, 0.25 * single.median_ms)
    assert abs(after.median_ms - single.median_ms) <= allowed, timings
