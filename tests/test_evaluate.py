"""Evaluation: batching must not change a prediction, the JSON shape, and the shared teachers' scores."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import make_tokenizer, onednn_at_each_call, save_tiny_model, tiny_model, tokenizer_for

from bertpress.cli import main
from bertpress.data.sources import DataSource, load_split
from bertpress.data.tasks import get_task
from bertpress.errors import BertpressError
from bertpress.measure.evaluate import EvalReport, evaluate
from bertpress.models.task_heads import task_head_for
from bertpress.measure.metrics import compute_metrics


def test_eval_report_to_dict_is_the_json_shape_and_reads_back():
    result = EvalReport("mrpc", "dev", 408, {"accuracy": 86.0, "f1": 90.0})
    metrics = {"accuracy": 86.0, "f1": 90.0}
    data = result.to_dict()
    assert data == {"report": "evaluate", "version": 2, "task": "mrpc", "split": "dev", "num_examples": 408,
                    "metrics": metrics}
    assert EvalReport.from_dict(data) == result
    with pytest.raises(BertpressError, match="schema version 9"):
        EvalReport.from_dict({**data, "version": 9})


def test_batched_evaluation_equals_one_example_at_a_time(family, glue_dir):
    task, model, tokenizer = get_task("rte"), tiny_model(family, 2), tokenizer_for(family)
    dataset = load_split(task, "dev", DataSource(data_dir=str(glue_dir)))
    with torch.no_grad():
        logits = np.concatenate(
            [model(**tokenizer(row["text_a"], row["text_b"], return_tensors="pt")).logits.numpy() for row in dataset]
        )
    expected = compute_metrics(task, logits, np.array(dataset["label"]))
    assert evaluate(model, tokenizer, task, dataset, batch_size=3, progress=False).metrics == pytest.approx(expected)


def test_scoring_runs_without_onednn_and_leaves_it_on(glue_dir):
    """Dev batches come in many lengths: oneDNN's per-shape kernels would fragment the heap (bertpress.memory)."""
    task, model, tokenizer = get_task("rte"), tiny_model("bert", 2), tokenizer_for("bert")
    seen = onednn_at_each_call(model)
    evaluate(model, tokenizer, task, load_split(task, "dev", DataSource(data_dir=str(glue_dir))), progress=False)
    assert seen and not any(seen)
    assert torch.backends.mkldnn.enabled


def test_evaluate_needs_only_call_outputs_and_num_labels(glue_dir):
    """An ONNX Runtime wrapper offers just this surface."""
    task = get_task("stsb")
    calls = []

    class Wrapper:
        config = SimpleNamespace(num_labels=1)

        def __call__(self, **inputs):
            calls.append((sorted(inputs), torch.is_grad_enabled()))
            return SimpleNamespace(logits=inputs["attention_mask"].sum(1, keepdim=True).float())

    dataset = load_split(task, "dev", DataSource(data_dir=str(glue_dir)))
    result = evaluate(Wrapper(), make_tokenizer(), task, dataset, progress=False)
    assert calls == [(["attention_mask", "input_ids", "token_type_ids"], False)]
    assert result.num_examples == 2 and set(result.metrics) == {"pearson", "spearman"}


def test_a_model_must_fit_the_task():
    task_head_for(get_task("mnli")).check(tiny_model("bert", 3).config, "mnli")
    with pytest.raises(BertpressError, match="the model has 2 output label\\(s\\) but task 'stsb' needs 1"):
        task_head_for(get_task("stsb")).check(tiny_model("bert", 2).config, "stsb")


def test_cli_writes_exactly_the_documented_json(tmp_path, glue_dir, capsys):
    model_dir = save_tiny_model(tmp_path / "tiny-mnli", num_labels=3)
    out = tmp_path / "result.json"
    args = ["evaluate", "--model", str(model_dir), "--task", "mnli", "--data-dir", str(glue_dir), "--json", str(out)]
    assert main(args) == 0
    result = json.loads(out.read_text())
    assert list(result) == ["report", "version", "task", "split", "num_examples", "metrics"]
    assert (result["task"], result["split"], result["num_examples"]) == ("mnli", "dev_matched", 3)
    assert list(result["metrics"]) == ["accuracy"] and 0 <= result["metrics"]["accuracy"] <= 100
    assert "dev_matched" in capsys.readouterr().out


@pytest.mark.integration
@pytest.mark.parametrize("name", ["mrpc", "rte", "sst2", "stsb"])
def test_shared_teachers_reproduce_their_dev_scores(shared, tmp_path, name):
    teacher = shared / "models" / f"minilm-{name}"
    out = tmp_path / "result.json"
    args = ["evaluate", "--model", str(teacher), "--task", name, "--data-dir", str(shared / "data" / "glue")]
    assert main([*args, "--json", str(out)]) == 0
    metrics = json.loads(out.read_text())["metrics"]
    reference = json.loads((teacher / "teacher.json").read_text())["dev"]  # as fractions
    assert set(metrics) <= set(reference)
    for metric, value in metrics.items():
        assert value == pytest.approx(100 * reference[metric], abs=0.5), metric  # bertpress reports points
