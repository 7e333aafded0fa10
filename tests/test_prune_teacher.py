"""Pruning a real fine-tuned teacher (integration: needs $BERTPRESS_SHARED)."""

import pytest
import torch
from transformers import AutoModelForSequenceClassification

from bertpress import api, load
from bertpress.data.sources import load_split
from bertpress.data.tasks import get_task
from bertpress.measure.evaluate import evaluate
from bertpress.models.loading import load_tokenizer
from bertpress.prune.report import LatencySetting

pytestmark = pytest.mark.integration


def test_a_pruned_teacher_keeps_its_accuracy_and_reloads(shared, tmp_path):
    teacher = str(shared / "models" / "minilm-mrpc")
    data = api.DataSource(data_dir=str(shared / "data" / "glue"))
    output = tmp_path / "pruned"
    report = api.prune(
        teacher, "mrpc", output,
        config=api.PruneConfig(macs=0.6, num_samples=256),
        data=data, latency=LatencySetting(batch_size=4, seq_length=32), progress=False,
    )
    assert report.macs_ratio <= 0.6 * 1.005
    assert report.baseline.metrics["accuracy"] - report.pruned.metrics["accuracy"] < 0.03
    assert sum(report.heads_per_layer) < 72 and sum(report.neurons_per_layer) < 6 * 1536

    task, tokenizer = get_task("mrpc"), load_tokenizer(teacher)
    reloaded = evaluate(load(str(output)), tokenizer, task, load_split(task, "dev", data), progress=False)
    assert reloaded.metrics == pytest.approx(report.pruned.metrics)

    stock = AutoModelForSequenceClassification.from_pretrained(output, trust_remote_code=True).eval()
    batch = tokenizer(["the cat sat on the mat"], ["a cat is on a mat"], return_tensors="pt")
    with torch.no_grad():
        assert (stock(**batch).logits - load(str(output))(**batch).logits).abs().max() < 1e-5
