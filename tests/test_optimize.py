"""`bertpress optimize`: the search's choice and front, its files, and bad input."""

import json
import time

import pytest
from conftest import save_tiny_model

from bertpress.cli import main
from bertpress.errors import BertpressError
from bertpress.optimize import Floor, Target, parse_duration, search
from bertpress.optimize.report import CandidateResult, pareto_front
from bertpress.optimize.search import FALLBACK_SHARE, GUESSED_BACKEND_S, _Clock

SHORT_LADDER = (0.7, 0.35, 0.1)
FAST = ["--num-samples", "32", "--min-time", "0.01", "--batch-size", "8", "--seq-length", "32"]


def optimize_args(model_dir, rte_dir, output, *extra):
    return ["optimize", "--model", str(model_dir), "--task", "rte", "--data-dir", str(rte_dir),
            "--output", str(output), *FAST, *extra]


def test_goals_and_durations():
    assert Target(speedup=4).ms(400.0) == 100.0 and Target(latency_ms=50).ms(400.0) == 50
    assert Floor(max_drop=1.0).metric(80.0) == 79.0 and Floor(min_metric=75).metric(80.0) == 75
    assert parse_duration("30m") == 1800 and parse_duration("90s") == 90 and parse_duration("1.5h") == 5400
    for bad in (lambda: Target(), lambda: Target(latency_ms=1, speedup=2), lambda: Target(speedup=-1),
                lambda: Floor(), lambda: Floor(max_drop=-1), lambda: parse_duration("soon")):
        with pytest.raises(BertpressError):
            bad()


def test_the_front_keeps_only_what_nothing_beats():
    def candidate(ms, metric):
        return CandidateResult("x", "torch-fp32", {}, None, 1.0, 1, ms, metric=metric, latency_ms=ms)

    candidates = [candidate(10, 80), candidate(5, 79), candidate(6, 78), candidate(20, 80), candidate(2, 70)]
    candidates.append(CandidateResult("screened", "onnx-int8", {}, None, 1.0, 1, 1.0))
    assert pareto_front(candidates) == [0, 1, 4]


@pytest.fixture
def searched(tmp_path, rte_dir, capsys, monkeypatch):
    # Three rungs of the ladder, not six: each rung is exported to ONNX, seconds apiece even for a tiny model.
    monkeypatch.setattr(search, "LADDER", SHORT_LADDER)
    model_dir = save_tiny_model(tmp_path / "model")
    output = tmp_path / "search"
    code = main(optimize_args(model_dir, rte_dir, output, "--speedup", "1.0", "--max-drop", "100",
                              "--backend", "torch-fp32,onnx-int8", "--no-distill", "--json", str(tmp_path / "r.json")))
    return code, output, model_dir, capsys.readouterr()


def test_optimize_writes_the_front_and_the_chosen_model(searched, rte_dir, tmp_path):
    code, output, _, printed = searched
    assert code == 0
    report = json.loads((output / "pareto.json").read_text())
    assert report == json.loads((tmp_path / "r.json").read_text())
    assert {"candidates", "front", "chosen", "target_ms", "floor_metric", "dense_metric", "dense_ms"} <= set(report)
    assert (output / "pareto.md").read_text().count("\n") > len(report["candidates"])
    assert (output / "pareto.png").stat().st_size > 0
    candidates = report["candidates"]
    # the dense model on both backends, then the ladder, one Fisher pass
    assert [c["backend"] for c in candidates[:2]] == ["torch-fp32", "onnx-int8"]
    assert sorted({c["structure"]["macs"] for c in candidates}) == [*sorted(SHORT_LADDER), 1.0]
    # every timing has its spread; the dense model on each backend is marked, and the speed table
    # says where it ran and how much faster than the dense model on its fastest backend
    assert report["dense"] == [0, 1] and report["dense_ms"] == candidates[0]["latency_ms"]
    assert all(c["latency_spread_ms"] >= 0 for c in candidates if c["latency_ms"] is not None)
    assert report["machine"]["cpu"] and set(report["machine"]["threads"]) == {"torch", "onnxruntime", "openvino"}
    assert "vs fastest dense" in (output / "pareto.md").read_text() and "Machine:" in printed.out
    best = candidates[report["chosen"]]
    assert best["latency_ms"] <= report["target_ms"] and best["metric"] >= report["floor_metric"]
    judged = [c for c in candidates if c["metric"] is not None]
    assert best["metric"] == max(c["metric"] for c in judged if c["latency_ms"] <= report["target_ms"])
    assert report["chosen"] in report["front"]
    assert "Chosen:" in printed.out and "elapsed" in printed.err and "left]" in printed.err
    # the chosen model is a folder that evaluate, bench and export take, with its recipe
    model = output / "model"
    if best["recipe"] is not None:
        assert (model / "recipe.yaml").is_file()
    assert main(["evaluate", "--model", str(model), "--task", "rte", "--data-dir", str(rte_dir)]) == 0
    assert main(["bench", "--model", str(model), "--batch-sizes", "1", "--seq-length", "32", "--min-time", "0.01"]) == 0


def test_an_impossible_target_keeps_the_front_and_exits_non_zero(tmp_path, rte_dir, capsys):
    model_dir = save_tiny_model(tmp_path / "model")
    output = tmp_path / "search"
    code = main(optimize_args(model_dir, rte_dir, output, "--speedup", "1000", "--max-drop", "0",
                              "--backend", "torch-fp32", "--no-distill"))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("bertpress optimize: error: no candidate met")
    assert (output / "pareto.json").is_file() and not (output / "model").exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--speedup", "2", "--max-drop", "1", "--backend", "onnx-int4"], "unknown backend 'onnx-int4'"),
        (["--speedup", "2", "--max-drop", "1", "--time-budget", "10s"], "too small for one candidate"),
        (["--speedup", "2", "--max-drop", "1", "--time-budget", "soon"], "a time budget looks like"),
        (["--speedup", "0", "--max-drop", "1"], "must be a positive number"),
        (["--speedup", "2", "--latency-ms", "5", "--max-drop", "1"], "not allowed with argument"),
        (["--speedup", "2"], "one of the arguments --max-drop --min-metric is required"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, rte_dir, capsys, extra, message):
    model_dir = save_tiny_model(tmp_path / "model")
    output = tmp_path / "search"
    try:
        code = main(optimize_args(model_dir, rte_dir, output, *extra))
    except SystemExit as exit:  # argparse's usage errors
        code = exit.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and message in err[-1]
    assert len(err) == 1 or err[0].startswith("usage:")
    assert not output.exists()


def test_the_clock_prices_each_backend_by_the_least_its_judging_took():
    clock = _Clock(budget_s=600, progress=False)
    assert clock.judging("openvino-int8") == GUESSED_BACKEND_S  # nothing judged there yet
    assert clock.scoring() == GUESSED_BACKEND_S  # nor scored
    clock.took["scoring"] = 12.0
    assert clock.scoring() == 12.0
    clock.judged("openvino-int8", 90.0)
    clock.judged("torch-fp32", 30.0)  # a fast backend judged after a slow one does not reprice it
    clock.judged("openvino-int8", 480.0)  # a long per-layer fallback: the next one stops at its deadline
    assert clock.judging("openvino-int8") == 90.0 and clock.judging("torch-fp32") == 30.0
    # a fallback stops after a quarter of the time left, or where only the reserve is left
    assert clock.deadline(30.0) == pytest.approx(time.perf_counter() + FALLBACK_SHARE * 600, abs=1.0)
    clock.budget_s = clock.elapsed() + 100.0
    assert clock.deadline(90.0) == pytest.approx(time.perf_counter() + 10.0, abs=1.0)
    assert clock.by(40.0) == pytest.approx(time.perf_counter() + 60.0, abs=1.0)  # a distillation's deadline


def test_a_distillation_stops_at_the_search_deadline_and_its_recipe_says_where(tmp_path, rte_dir, monkeypatch):
    monkeypatch.setattr(_Clock, "by", lambda self, reserve_s: time.perf_counter())  # the deadline has passed
    model_dir = save_tiny_model(tmp_path / "model")
    output = tmp_path / "search"
    main(optimize_args(model_dir, rte_dir, output, "--latency-ms", "1000", "--max-drop", "100", "--backend", "torch-fp32"))
    report = json.loads((output / "pareto.json").read_text())
    distilled = [c for c in report["candidates"] if c["structure"]["distill_epochs"]]
    assert distilled and all(c["structure"]["distill_steps"] == 1 for c in distilled)
    step = [s for s in distilled[0]["recipe"]["steps"] if "distill" in s][0]["distill"]
    assert step["max_steps"] == 1 and "stopped after 1 steps" in distilled[0]["label"]
