"""The runner's one set-up (``prepare``, shared by ``compress`` and the ``optimize`` search), the
one mask selection a price and its prune share, and the final model timed beside the dense one."""

import copy
import time
from dataclasses import replace

import pytest
import torch

from bertpress import api
from bertpress.data.calibration import Calibration
from bertpress.data.sources import DataSource
from bertpress.measure.cost import MacsBudget, resolve_budget
from bertpress.measure.latency import LatencySetting
from bertpress.models.loading import load_tokenizer
from bertpress.steps import DistillStep, PruneStep, apply_step
from bertpress.steps import state as state_module
from bertpress.steps.runner import prepare
from bertpress.steps.workload import TaskWorkload

SETTING = LatencySetting(2, 8, min_run_time=0.01)


def prepare_rte(model_dir, rte_dir, tmp_path, time_dense=False):
    workload = TaskWorkload("rte", DataSource(data_dir=str(rte_dir)))
    network = workload.load(str(model_dir))
    return prepare(network, load_tokenizer(str(model_dir)), workload, Calibration(num_samples=32), SETTING, tmp_path,
                   progress=False, timings={}, time_dense=time_dense)


@pytest.fixture
def prepared(model_dir, rte_dir, tmp_path):
    return prepare_rte(model_dir, rte_dir, tmp_path)


def test_prepare_gives_one_state_and_the_dense_measurement(prepared):
    state, baseline = prepared.state, prepared.baseline
    assert state.original is not state.model  # a copy: the steps change the model in place
    assert state.reference.params == baseline.params and "accuracy" in baseline.metrics
    assert state.calibration and state.score is not None and "prepare" in state.timings_s
    # Timed only where a latency budget needs it: the final model is timed beside the dense one anyway.
    assert state.reference.latency_ms is baseline.latency_ms is None


def test_prepare_times_the_dense_model_for_a_latency_budget(model_dir, rte_dir, tmp_path):
    prepared = prepare_rte(model_dir, rte_dir, tmp_path, time_dense=True)
    assert prepared.state.reference.latency_ms == prepared.baseline.latency_ms > 0
    assert prepared.baseline.latency_spread_ms >= 0
    assert api.Recipe.of(PruneStep(latency=0.5)).times_dense and not api.Recipe.of(PruneStep(macs=0.5)).times_dense


def test_a_price_and_its_prune_share_one_mask_search(prepared, monkeypatch):
    parent = prepared.state
    resolved = resolve_budget(MacsBudget(0.5), parent.adapter, parent.reference, SETTING, progress=False)
    selection = parent.selection(resolved)  # what the search prices a rung from
    assert parent.selection(resolved) is selection

    def searched_again(*args):
        raise AssertionError("the prune searched its masks again")

    monkeypatch.setattr(state_module, "select_units", searched_again)
    pruned = replace(parent, model=copy.deepcopy(parent.model), records=[], timings_s={})  # as the search forks
    apply_step(pruned, PruneStep(macs=0.5))
    kept = [int(mask.sum()) for mask in selection.masks.heads]
    assert pruned.adapter.heads_per_layer() == kept
    assert parent.selection(resolved) is selection  # the prune's new model got a selection cache of its own


def test_compress_times_the_final_model_beside_the_dense_one(model_dir, rte_dir):
    report = api.compress(
        str(model_dir), "rte", recipe=api.Recipe.of(PruneStep(macs=0.5)), calibration=Calibration(num_samples=32),
        data=DataSource(data_dir=str(rte_dir)), latency=SETTING, progress=False,
    )
    assert report.baseline.latency_spread_ms is not None and report.pruned.latency_spread_ms is not None
    assert report.speedup == report.baseline.latency_ms / report.pruned.latency_ms



def test_a_distillation_ended_by_its_deadline_is_redone_by_its_step_cap(prepared):
    parent = prepared.state

    def distilled(step: DistillStep, deadline: float | None = None):
        student = replace(parent, model=copy.deepcopy(parent.model), records=[], timings_s={}, training_deadline=deadline)
        return student.model, apply_step(student, step)

    step = DistillStep(epochs=2, lr=1e-3, batch_size=8, max_train_samples=32)  # 4 optimizer steps an epoch
    late, ended = distilled(step, deadline=time.perf_counter())  # already passed: one step, then stop
    assert (ended["optimizer_steps"], ended["planned_steps"], ended["stopped_at_deadline"]) == (1, 8, True)
    assert len(ended["curve"]) == 1
    capped, redone = distilled(replace(step, max_steps=1))
    assert (redone["optimizer_steps"], redone["stopped_at_deadline"]) == (1, False)
    for name, weight in late.state_dict().items():
        assert torch.equal(weight, capped.state_dict()[name]), name  # same schedule, same batches: the same student
    _, into_second_epoch = distilled(replace(step, max_steps=5))
    assert into_second_epoch["optimizer_steps"] == 5 and len(into_second_epoch["curve"]) == 2
    _, whole = distilled(step)
    assert (whole["optimizer_steps"], whole["stopped_at_deadline"]) == (8, False)
    with pytest.raises(api.BertpressError, match="max_steps must be at least 1"):
        DistillStep(max_steps=0)
