"""Static int8 (ONNX Runtime QDQ, OpenVINO through NNCF): attention quantized, per-layer fallback,
the recipe steps, and the held-out text it and the search are judged on."""

import json

import onnx
import torch
from conftest import FAST_LATENCY, distinctive_model

from bertpress import load
from bertpress.cli import main
from bertpress.data.calibration import Calibration, calibration_batches, held_out_batches
from bertpress.data.sources import DataSource
from bertpress.data.tasks import get_task
from bertpress.export.onnx import StaticCalibration, export_config, export_onnx, input_names, static_feeds, write_onnx
from bertpress.export.onnx import STATIC_INT8_FILE
from bertpress.export import openvino as openvino_export
from bertpress.export.openvino import write_openvino
from bertpress.runtime.onnx import OnnxRuntimeModel
from bertpress.runtime.openvino import OpenVinoModel
from bertpress.measure.latency import sample_inputs
from bertpress.models.adapters import get_adapter
from bertpress.quantize import OnnxInt8Static, quantize_onnx_static
from bertpress.quantize import fallback
from bertpress.quantize.fallback import StaticOutcome, with_layer_fallback
from bertpress.quantize.onnx_static import layer_nodes


def batches_for(model, count=4):
    batches = [sample_inputs(model.config, 8, 16, seed=seed) for seed in range(count)]
    for batch in batches:
        batch["token_type_ids"] = torch.zeros_like(batch["input_ids"])
    return batches


def test_static_int8_quantizes_attention_and_stays_close(tmp_path):
    model = distinctive_model("bert", pruned=True)
    feeds = static_feeds(batches_for(model), input_names(model), 16)
    report = export_onnx(model, tmp_path / "static", static=StaticCalibration(feeds))
    assert report.file == STATIC_INT8_FILE and report.int8_mode == "static"
    graph = onnx.load(tmp_path / "static" / STATIC_INT8_FILE).graph
    # both activation-by-activation MatMuls of attention (Q.K^T and scores.V) get quantized inputs
    quantized = {node.output[0] for node in graph.node if node.op_type == "DequantizeLinear"}
    inputs_quantized = [all(name in quantized for name in node.input) for node in graph.node if node.op_type == "MatMul"]
    # every MatMul with weights (Q, K, V, output, FFN in and out where kept: 6 + 2 + 4) and both
    # attention products of the two layers that keep heads
    assert sum(inputs_quantized) == 12 + 2 * 2
    assert report.int8_max_abs_diff < 0.5 and not (tmp_path / "static" / "model.onnx").exists()
    assert isinstance(load(str(tmp_path / "static")), OnnxRuntimeModel)


def test_static_int8_falls_back_to_fp32_for_the_layers_that_lose_most(tmp_path):
    model = distinctive_model("bert")
    adapter = get_adapter(model)
    prefixes = [adapter.layer_paths(i).layer for i in range(adapter.num_layers)]
    def judge(path):
        """Loses 3 points unless layer 1's MatMuls stay fp32: only then is it within the tolerance."""
        graph = onnx.load(path).graph
        quantized = {node.output[0] for node in graph.node if node.op_type == "DequantizeLinear"}
        plain = {node.name for node in graph.node if node.op_type == "MatMul" and not set(node.input) & quantized}
        return 0.0 if layer_1_matmuls <= plain else 3.0

    (tmp_path / "plain").mkdir()
    write_onnx(model, tmp_path / "plain", export_config(model), fuse=False)
    graph = onnx.load(tmp_path / "plain" / "model.onnx")
    layers = layer_nodes(graph, prefixes)
    assert sorted(layers) == [0, 1, 2] and all(layers.values())
    layer_1_matmuls = {node.name for node in graph.graph.node if node.op_type == "MatMul"} & set(layers[1])
    assert len(layer_1_matmuls) == 8  # Q, K, V, the two attention products, the output, FFN in and out
    outcome = quantize_onnx_static(
        tmp_path / "plain" / "model.onnx", tmp_path / "q.onnx", static_feeds(batches_for(model), input_names(model), 16),
        prefixes, OnnxInt8Static(tolerance=1.0), judge,
    )
    assert outcome.fp32_layers == [1] and outcome.loss == 0.0
    assert outcome.tried == 1 + 3 + 1  # all int8, each layer alone in fp32, then layer 1 kept


def compress_with(quantize: str, model_dir, rte_dir, tmp_path):
    """A tiny model pruned to half its MACs, then quantized by the recipe step ``quantize``; its folder."""
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"steps:\n  - prune: {{macs: 0.5}}\n  - quantize: {quantize}\n")
    output = tmp_path / "out"
    assert main(["compress", "--model", str(model_dir), "--task", "rte", "--data-dir", str(rte_dir), "--recipe",
                 str(recipe), "--output", str(output), "--num-samples", "64", *FAST_LATENCY]) == 0
    return output


def test_a_recipe_quantizes_statically_and_the_folder_runs_it(model_dir, rte_dir, tmp_path):
    output = compress_with("{backend: onnx, mode: static, tolerance: 100}", model_dir, rte_dir, tmp_path)
    report = json.loads((output / "report.json").read_text())
    assert report["backend"] == "onnx-int8-static"
    assert (output / "onnx" / STATIC_INT8_FILE).is_file()
    assert json.loads((output / "onnx" / "export.json").read_text())["int8_mode"] == "static"
    assert main(["evaluate", "--model", str(output / "onnx"), "--task", "rte", "--data-dir", str(rte_dir)]) == 0


def test_held_out_examples_are_never_calibration_examples(rte_dir, tokenizer):
    task, data, calibration = get_task("rte"), DataSource(data_dir=str(rte_dir)), Calibration(num_samples=32)
    ids = lambda batches: {tuple(row[row != 0].tolist()) for batch in batches for row in batch["input_ids"]}  # noqa: E731
    calibrating = ids(calibration_batches(task, tokenizer, data, calibration))
    held_out = ids(held_out_batches(task, tokenizer, data, calibration, 100))
    assert len(held_out) >= 30 and not calibrating & held_out
    assert held_out_batches(task, tokenizer, data, Calibration(num_samples=64), 100) == []  # nothing is left


def test_openvino_runs_pruned_models_exactly_and_int8_falls_back_per_layer(tmp_path):
    model = distinctive_model("bert", pruned=True)  # an emptied attention block and an emptied FFN
    fp32 = write_openvino_into(tmp_path / "fp32", model)
    assert fp32.file == "openvino_model.xml" and fp32.max_abs_diff < 1e-4
    assert isinstance(load(str(tmp_path / "fp32")), OpenVinoModel)
    judged = []

    def judge(quantized):
        """The whole int8 model loses 5 points; keeping any one layer in fp32 is enough."""
        judged.append(quantized)
        return 5.0 if len(judged) == 1 else 0.0

    feeds = static_feeds(batches_for(model), input_names(model), 16)
    int8 = write_openvino_into(tmp_path / "int8", model, StaticCalibration(feeds, judge))
    assert int8.file == "openvino_model_qint8_quantized.xml" and int8.int8_mode == "static"
    assert int8.fp32_layers == [0] and int8.int8_max_abs_diff < 0.5
    assert all(isinstance(model, OpenVinoModel) for model in judged)


def test_openvino_is_converted_from_pytorch_with_fused_attention_and_from_onnx_when_that_fails(tmp_path, monkeypatch):
    import openvino as ov

    model = distinctive_model("bert")
    direct = write_openvino_into(tmp_path / "pytorch", model)
    ops = {op.get_type_name() for op in ov.Core().read_model(str(tmp_path / "pytorch" / direct.file)).get_ops()}
    assert direct.converted_from == "pytorch" and direct.opset is None and direct.max_abs_diff < 1e-4
    assert "ScaledDotProductAttention" in ops  # what makes its int8 faster: NNCF leaves the fused op alone

    def failing(*_):
        raise RuntimeError("no converter for this op\nmore")

    monkeypatch.setattr(openvino_export, "_from_torch", failing)
    fallback = write_openvino_into(tmp_path / "onnx", model)
    assert fallback.converted_from == "onnx (the conversion from PyTorch was not kept: it failed: no converter for this op)"
    assert fallback.opset >= 18 and fallback.max_abs_diff < 1e-4


def write_openvino_into(folder, model, static=None):
    folder.mkdir()
    return write_openvino(model, folder, static)


def test_a_recipe_quantizes_for_openvino_and_bench_compares_it(model_dir, rte_dir, tmp_path):
    output = compress_with("{backend: openvino, mode: static}", model_dir, rte_dir, tmp_path)
    assert json.loads((output / "report.json").read_text())["backend"] == "openvino-int8"
    assert (output / "openvino" / "openvino_model_qint8_quantized.xml").is_file()
    assert main(["evaluate", "--model", str(output / "openvino"), "--task", "rte", "--data-dir", str(rte_dir)]) == 0
    assert main(["bench", "--model", str(model_dir), "--backends", "openvino-fp32,openvino-int8", "--batch-sizes", "2",
                 "--seq-length", "16", "--min-time", "0.01"]) == 0


def test_the_fallback_stops_at_its_deadline(monkeypatch):
    now, written = [0.0], []  # a clock on which every quantized variant takes one second
    monkeypatch.setattr(fallback.time, "perf_counter", lambda: now[0])

    def write(fp32_layers):
        written.append(fp32_layers)
        now[0] += 1.0

    def judge():
        """Every layer costs a point in int8: keeping all three in fp32 is the only way within 0.5."""
        return 3.0 - len(written[-1])

    def run(deadline):
        written.clear()
        now[0] = 0.0
        return with_layer_fallback([0, 1, 2], write, judge, tolerance=0.5, deadline=deadline)

    assert run(None) == run(7.0) == StaticOutcome([0, 1, 2], 0.0, tried=7)
    assert written == [[], [0], [1], [2], [0], [0, 1], [0, 1, 2]]
    # the sweep and one more variant (4 s after the first) do not fit: the all-int8 model is the result
    assert run(4.9) == StaticOutcome([], 3.0, tried=1, cut_short=True) and written == [[]]
    # they fit, and the next layer would end after the deadline: the last model written is the result
    assert run(6.5) == StaticOutcome([0, 1], 1.0, tried=6, cut_short=True) and written[-1] == [0, 1]
