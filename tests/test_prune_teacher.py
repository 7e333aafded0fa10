"""Pruning a real fine-tuned teacher (integration: needs $BERTPRESS_SHARED)."""

import pytest
import torch
from transformers import AutoModelForSequenceClassification

from bertpress import api, load
from bertpress.data.sources import load_split
from bertpress.data.tasks import get_task
from bertpress.measure.evaluate import evaluate
from bertpress.models.loading import load_tokenizer
from bertpress.measure.latency import LatencySetting

pytestmark = pytest.mark.integration


def test_a_pruned_teacher_keeps_its_accuracy_and_reloads(shared, tmp_path):
    teacher = str(shared / "models" / "minilm-mrpc")
    data = api.DataSource(data_dir=str(shared / "data" / "glue"))
    output = tmp_path / "pruned"
    report = api.prune(
        teacher, "mrpc", output,
        config=api.PruneStep(macs=0.6), calibration=api.Calibration(num_samples=256),
        data=data, latency=LatencySetting(batch_size=4, seq_length=32), progress=False,
    )
    assert report.macs_ratio <= 0.6 * 1.005
    assert report.baseline.metrics["accuracy"] - report.pruned.metrics["accuracy"] < 3
    assert sum(report.heads_per_layer) < 72 and sum(report.neurons_per_layer) < 6 * 1536

    task, tokenizer = get_task("mrpc"), load_tokenizer(teacher)
    reloaded = evaluate(load(str(output)), tokenizer, task, load_split(task, "dev", data), progress=False)
    assert reloaded.metrics == pytest.approx(report.pruned.metrics)

    stock = AutoModelForSequenceClassification.from_pretrained(output, trust_remote_code=True).eval()
    batch = tokenizer(["the cat sat on the mat"], ["a cat is on a mat"], return_tensors="pt")
    with torch.no_grad():
        assert (stock(**batch).logits - load(str(output))(**batch).logits).abs().max() < 1e-5


def _teacher_compress(shared, data, output, *steps, **options):
    return api.compress(
        str(shared / "models" / "minilm-mrpc"), "mrpc", output, recipe=api.Recipe.of(*steps),
        calibration=api.Calibration(num_samples=64), data=data,
        latency=LatencySetting(batch_size=4, seq_length=32, min_run_time=0.1), progress=False, **options,
    )


@pytest.fixture
def few_dev_pairs(shared, tmp_path) -> api.DataSource:
    """MRPC with its first 96 dev pairs: the recipes are compared with the steps by hand, not judged
    on accuracy, and each compression scores the teacher and its result (the whole dev set added half a minute)."""
    glue = shared / "data" / "glue"
    dev = tmp_path / "mrpc-dev.tsv"
    dev.write_text("".join((glue / "MRPC" / "dev.tsv").read_text(encoding="utf-8-sig").splitlines(keepends=True)[:97]))
    return api.DataSource(data_dir=str(glue), dev_file=str(dev), text_columns=("#1 String", "#2 String"),
                          label_column="Quality")


def test_recipes_on_the_teacher_match_the_steps_by_hand(shared, few_dev_pairs, tmp_path):
    data = few_dev_pairs
    report = _teacher_compress(shared, data, tmp_path / "int8", api.PruneStep(macs=0.5), api.QuantizeStep())
    assert (report.backend, [s.name for s in report.steps]) == ("onnx-int8", ["prune", "quantize"])
    assert report.macs_ratio <= 0.5 * 1.005
    by_hand = _teacher_compress(shared, data, tmp_path / "pruned", api.PruneStep(macs=0.5))
    assert by_hand.pruned.metrics == report.steps[0].metrics
    # (that the quantize step is the by-hand int8 export of this model: test_compress.py, on tiny models)
    assert api.evaluate(str(tmp_path / "int8" / "onnx"), "mrpc", data=data, progress=False).metrics == report.pruned.metrics

    dropped = _teacher_compress(shared, data, tmp_path / "dropped", api.DropLayersStep(count=2, strategy="fisher"),
                                api.PruneStep(macs=0.5))
    assert len(dropped.heads_per_layer) == 4 and len(dropped.dropped_layers) == 2
    assert dropped.macs_ratio <= 0.5 * 1.005
    assert [s.name for s in dropped.steps] == ["drop_layers", "prune"]
    reloaded = api.evaluate(str(tmp_path / "dropped"), "mrpc", data=data, progress=False)
    assert reloaded.metrics == pytest.approx(dropped.pruned.metrics)
