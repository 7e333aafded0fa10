"""Find the most accurate model that meets a latency target, within a time budget.

This is the driver: it makes and measures what the policy (``optimize.policy``) asks for, with the
runner's machinery (``steps.runner.prepare``, the recipe steps, ``steps.backends.deploy``). One run
shares what candidates have in common: the prepared state (calibration batches, scorer,
reference), one Fisher pass on the dense model and each MACs ratio's mask selection (a rung's price
and its prune use the same masks), one latency table, and the dense model on every backend, which
every candidate is timed beside. The steps:

1. Prepare the dense model, make it on every backend and time them all in turn: the dense rows of
   the report, and the first measured prices.
2. Prune rungs of the MACs ladder without retraining, in the order ``policy.next_rung`` gives (the
   largest priced to meet the target first; after a rung misses the floor, the rungs above it
   first). Each is made on every backend, screened on the proxy (agreement with the dense model on
   held-out training text), evaluated on the dev set and timed; each timing reprices the others.
3. With time left, distil the largest rungs priced to meet the target (and a layer-drop student of
   the same MACs), judged the same way; then prune the rest of the ladder, completing the front.
4. Choose (``policy.choose``) the most accurate candidate that meets the target and the floor.

Latencies are on the run's clock: a candidate's ratio to the dense model on the same backend, the
two timed in turn, times that dense model's timing at the start (taken in turn with dense fp32
PyTorch, the target's reference), so a busy moment of the machine mid-run moves no comparison.
The clock is checked before each piece of work, against what that kind of work took so far (a
backend's judging: the least it took on that backend). Static int8's per-layer fallback may quantize
a model twice per layer, minutes at base size: it is given a deadline, at most a share of the time
left and leaving the time to score and time the result, so what a judging must take is what it
took without the fallback. A distillation, sized from a guessed or timed step, also has a deadline
(the time its student's judging needs), and a student it ended early keeps the step count in its
recipe.
"""

from __future__ import annotations

import copy
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from ..data.calibration import Calibration
from ..data.sources import DataSource
from ..errors import BertpressError, first_line
from ..measure.agreement import AgreementProxy
from ..measure.cost import MacsBudget, resolve_budget
from ..measure.latency import LatencySetting, Timing, compare_latency, timing_threads
from ..measure.latency_table import LatencyTable, latency_table
from ..measure.machine import this_machine
from ..measure.macs import count_params, model_macs
from ..models.loading import load_tokenizer
from ..models.positions import check_max_length
from ..outputs import atomic_dir, check_output, write_json
from ..runtime.backends import BACKENDS, backend_of
from ..steps import DistillStep, apply_step
from ..steps.backends import deploy, deployed_size_mb
from ..steps.runner import prepare, save_state
from ..steps.state import State
from ..steps.workload import EmbeddingSetup, EmbeddingWorkload, TaskWorkload, default_embedding_metric, make_workload
from . import policy
from .candidates import LADDER, Structure, candidate_recipe
from .goals import Floor, Target
from .report import CandidateResult, OptimizeReport, pareto_front

HELD_OUT = 256  # training examples outside calibration that the proxy is judged on
MIN_BUDGET_S = 60.0  # below this no candidate can be made and judged
# Seconds assumed for making and judging a model on a backend until one was timed there (an int8
# export and calibration of a MiniLM-size model, its dev evaluation and its timings).
GUESSED_BACKEND_S = 20.0
# A prune (mask search, rearrangement, reconstruction) takes about this many Fisher passes,
# until one was timed.
PRUNE_PER_FISHER = 2.0
# One model's static int8 fallback may take at most this share of the time left: on the dense
# MPNet it took 7 of a 20-minute budget's 13 minutes left after setup.
FALLBACK_SHARE = 0.25
# A distillation leaves this multiple of the time its student's backends must take to judge, and
# static int8's fallback this multiple of the last scoring and timing of a candidate.
JUDGING_MARGIN = 1.2
# The target's reference: the dense model run by fp32 PyTorch.
REFERENCE_BACKEND = backend_of("torch", None).name


class NoModelMeetsTarget(BertpressError):
    """The search ended without a candidate meeting both the target and the floor."""


@dataclass
class _Built:
    """A structure made and saved to scratch space, with what pricing and saving it need."""

    structure: Structure
    folder: Path  # the PyTorch model, saved
    macs_ratio: float
    params: int
    table_ms: float  # the latency table's price of its shape (fp32 PyTorch, target batch)


class _Clock:
    """The time budget: what is left, what each kind of work took the last time, progress lines."""

    def __init__(self, budget_s: float, progress: bool):
        self.budget_s, self.progress = budget_s, progress
        self.started = time.perf_counter()
        self.took: dict[str, float] = {}  # seconds the last piece of work of each kind took

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def left(self) -> float:
        return self.budget_s - self.elapsed()

    def expects(self, kind: str) -> float:
        """Seconds the next piece of work of ``kind`` (``prune``, ``scoring``: a dev evaluation and
        its timing) should take; ``prune`` is set at the start."""
        return self.took.get(kind, 0.0)

    def scoring(self) -> float:
        """Seconds a dev evaluation and its timing should take: as last timed (the dense model's
        first), GUESSED_BACKEND_S before any was."""
        return self.took.get("scoring", GUESSED_BACKEND_S)

    def judged(self, backend: str, seconds: float) -> None:
        kind = f"judging {backend}"
        self.took[kind] = min(seconds, self.took.get(kind, seconds))

    def judging(self, backend: str) -> float:
        """Seconds making and judging a model on ``backend`` must take: the least it took there."""
        return self.took.get(f"judging {backend}", GUESSED_BACKEND_S)

    def by(self, reserve_s: float) -> float:
        """The ``time.perf_counter()`` reading at which only ``reserve_s`` of the budget is left."""
        return self.started + self.budget_s - reserve_s

    def deadline(self, reserve_s: float) -> float:
        """The ``time.perf_counter()`` reading by which a static int8 fallback stops: after at most
        ``FALLBACK_SHARE`` of the time left, leaving ``reserve_s`` of the budget."""
        return min(time.perf_counter() + FALLBACK_SHARE * self.left(), self.by(reserve_s))

    def say(self, message: str) -> None:
        if self.progress:
            print(f"[{_minutes(self.elapsed())} elapsed, {_minutes(max(self.left(), 0))} left] {message}", file=sys.stderr, flush=True)


class _SideBySide:
    """The dense model on every backend, and timings on the run's clock: a model is timed in turn
    with the dense model on its backend (fp32 PyTorch where that one failed) and scaled by that
    dense model's timing at the start, so a busy moment of the machine mid-run moves no comparison."""

    def __init__(self, settings: dict[str, LatencySetting]):
        self.settings = settings  # the target batch's, and batch 1's
        self.dense: dict[str, object] = {}  # backend → the dense model on it
        self.start: dict[str, dict[str, Timing]] = {}  # setting → backend → the dense model's timing at the start

    def time_dense(self) -> dict[str, dict[str, Timing]]:
        """Every dense model, timed all in turn: the start of the run's clock."""
        self.start = {name: compare_latency(self.dense, setting) for name, setting in self.settings.items()}
        return self.start

    def time(self, model, backend: str) -> dict[str, Timing]:
        partner = backend if backend in self.dense else REFERENCE_BACKEND
        timings = {}
        for name, setting in self.settings.items():
            now = compare_latency({"dense": self.dense[partner], "candidate": model}, setting)
            scale = self.start[name][partner].median_ms / now["dense"].median_ms
            measured = now["candidate"]
            timings[name] = replace(measured, median_ms=measured.median_ms * scale, spread_ms=measured.spread_ms * scale)
        return timings


class _Prices:
    """What a shape costs: the latency table's fp32 PyTorch price (plus what the table does not
    explain of the dense model's time), and the policy's price on a backend from what was measured."""

    def __init__(self, table: LatencyTable, backends: list[str]):
        self.table, self.backends = table, backends
        self.other_ms = 0.0
        self.timed: list[policy.Timed] = []  # every measurement at the target batch

    def explain_dense(self, dense_ms: float, heads: list[int], neurons: list[int]) -> None:
        self.other_ms = max(dense_ms - self.table.encoder_ms(heads, neurons), 0.0)

    def table_ms(self, heads: list[int], neurons: list[int]) -> float:
        return self.other_ms + self.table.encoder_ms(heads, neurons)

    def measured(self, backend: str, table_ms: float, latency_ms: float) -> None:
        self.timed.append(policy.Timed(backend, table_ms, latency_ms))

    def on(self, table_ms: float, backend: str) -> float:
        """The policy's price on ``backend``; the table's fp32 price where nothing ran on it."""
        price = policy.price(table_ms, backend, self.timed)
        return round(table_ms if price is None else price, 2)

    def best(self, table_ms: float) -> float:
        return policy.best_price(table_ms, self.backends, self.timed)


class Search:
    """One optimize run; ``run()`` returns its report (see the module's docstring)."""

    def __init__(self, model: str, workload: Workload, *, target: Target, floor: Floor, time_budget_s: float,
                 backends: list[str], calibration: Calibration, distill: bool,
                 layer_drop: bool, min_run_time: float, progress: bool, workdir: Path):
        self.model_name, self.target, self.floor, self.backends = model, target, floor, backends
        self.calibration, self.distill, self.layer_drop, self.workdir = calibration, distill, layer_drop, workdir
        self.clock = _Clock(time_budget_s, progress)
        self.setting = LatencySetting(target.batch_size, target.seq_length, min_run_time=min_run_time)
        # A candidate's two timings: at the target batch, and at batch 1.
        self.side_by_side = _SideBySide({"target": self.setting, "b1": replace(self.setting, batch_size=1)})
        self.workload = workload
        self.candidates: list[CandidateResult] = []
        self.saved: dict[int, tuple[_Built, State]] = {}  # candidate index → how to save it
        self.rungs_made: dict[float, _Built] = {}  # ladder rung → its retraining-free structure

    def say(self, message: str) -> None:
        self.clock.say(message)

    # --- the run -----------------------------------------------------------------------------
    def run(self) -> OptimizeReport:
        self.setup()
        self.judge_dense()
        self.search_ladder()
        if self.distill:
            self.distil()
        for macs in policy.front_rungs(self.rungs()):
            if not self.prune(macs):
                break
        return self.report()

    def setup(self) -> None:
        """The runner's preparation, the proxy, the one Fisher pass every retraining-free prune
        shares, and the latency table that prices shapes."""
        self.say("loading the model, calibrating, and measuring the dense model")
        network = self.workload.load(self.model_name)
        check_max_length(network.config, self.calibration.max_length, self.model_name)
        tokenizer = load_tokenizer(self.model_name)
        prepared = prepare(network, tokenizer, self.workload, self.calibration, self.setting, self.workdir,
                           progress=self.clock.progress, timings={})
        # Candidates are scored quietly (the progress lines say what is judged); the search never
        # changes the prepared model (it prunes copies), so it is the teacher as it is.
        quiet = self.workload.scorer(tokenizer, self.calibration.max_length, progress=False)
        self.parent = replace(prepared.state, score=quiet, original=network)
        held_out = self.workload.held_out(tokenizer, self.calibration, HELD_OUT) or self.parent.calibration[-HELD_OUT // 32:]
        self.proxy = AgreementProxy(network, self.workload.task_head, held_out)
        self.metric_name = self.workload.task.main_metric
        self.baseline = prepared.baseline
        self.floor_metric = self.floor.metric(self.dense_metric)
        self.num_layers = self.parent.adapter.num_layers
        self.parent.gradients()
        table = latency_table(self.parent.adapter, self.target.batch_size, self.target.seq_length, progress=self.clock.progress)
        self.prices = _Prices(table, self.backends)
        self.clock.took["prune"] = PRUNE_PER_FISHER * self.parent.timings_s["fisher"]
        if self.clock.left() < self.clock.took["prune"]:
            raise BertpressError(
                f"the time budget ({self.clock.budget_s:.0f} s) is too small for one candidate: setting up took "
                f"{self.clock.elapsed():.0f} s and one prune takes about {self.clock.took['prune']:.0f} s more"
            )

    @property
    def dense_metric(self) -> float:
        return self.baseline.metrics[self.metric_name]

    # --- the ladder ------------------------------------------------------------------------------
    def rung_table_ms(self, macs: float) -> float:
        """The table's latency of a rung: from its structure once made, else from the masks its
        prune will use (the parent state's selection, shared with the prune)."""
        if macs in self.rungs_made:
            return self.rungs_made[macs].table_ms
        resolved = resolve_budget(MacsBudget(macs), self.parent.adapter, self.parent.reference, self.setting, progress=False)
        masks = self.parent.selection(resolved).masks
        return self.prices.table_ms([int(m.sum()) for m in masks.heads], [int(m.sum()) for m in masks.neurons])

    def rungs(self) -> list[policy.Rung]:
        """The ladder as the policy sees it: each rung's best price, and its dev metric once judged."""
        rungs = []
        for macs in LADDER:
            judged = [c for c in self.candidates if c.structure == Structure(macs).to_dict()]
            price = self.prices.best(self.rung_table_ms(macs))
            rungs.append(policy.Rung(macs, price, macs in self.rungs_made, policy.rung_metric(judged, self.target_ms)))
        return rungs

    # --- structures ----------------------------------------------------------------------------
    def search_ladder(self) -> None:
        """Retraining-free prunes in the policy's order, until it has no rung worth trying before distillation."""
        while (macs := policy.next_rung(self.rungs(), self.target_ms, self.floor_metric)) is not None:
            if not self.prune(macs):
                return

    def prune(self, macs: float) -> bool:
        """Prune a copy of the dense model to ``macs`` and judge it on every backend; False when
        the time left cannot afford it (a prune with no time to judge it is waste)."""
        cheapest = min(self.clock.judging(backend) for backend in self.backends)
        if self.clock.left() < self.clock.expects("prune") + cheapest:
            self.say(f"no time left to prune to MACs {macs:g}")
            return False
        self.say(f"pruning to MACs {macs:g} (priced {self.prices.best(self.rung_table_ms(macs)):.0f} ms on its fastest backend)")
        started = time.perf_counter()
        state = self.fork()
        apply_step(state, Structure(macs).steps(self.num_layers)[0])  # the selection its price used
        self.clock.took["prune"] = time.perf_counter() - started
        self.rungs_made[macs] = self.built(Structure(macs), state)
        self.judge(self.rungs_made[macs], state)
        return True

    def distil(self) -> None:
        """Distil the largest rungs priced to meet the target, and a layer-drop student of the first's MACs."""
        plans: list[tuple[Structure, _Built | None]] = []  # a structure, and the rung it starts from (None: the dense model)
        training = {"distill_epochs": policy.MAX_DISTILL_EPOCHS, "distill_lr": policy.distill_lr(self.parent.adapter.hidden_size)}
        for number, macs in enumerate(policy.rungs_to_distil(self.rungs(), self.target_ms)):
            made = self.rungs_made[macs]
            plans.append((replace(made.structure, **training), made))
            dropped = policy.layers_to_drop(made.macs_ratio, self.num_layers)
            if number == 0 and self.layer_drop and dropped:
                plans.append((Structure(made.macs_ratio, dropped, **training), None))
        for structure, start in plans:
            structure = self.fit_distillation(structure)
            if structure is None:
                self.say("no time left to distil")
                return
            self.say(f"distilling: {structure.label()}")
            started = time.perf_counter()
            state = self.fork() if start is None else self.fork(self.workload.load(str(start.folder)))
            state.training_deadline = self.clock.by(self.judging_reserve())
            steps = structure.steps(self.num_layers)
            for step in steps if start is None else steps[-1:]:
                details = apply_step(state, step)
            # The last step is the distillation: a structure that ended at the deadline is redone by a cap.
            self.clock.took["distill_step"] = (time.perf_counter() - started) / max(1, details["optimizer_steps"])
            if details["stopped_at_deadline"]:
                structure = replace(structure, distill_steps=details["optimizer_steps"])
                self.say(f"distillation stopped at the deadline, after {details['optimizer_steps']:,} of {details['planned_steps']:,} steps")
            made = self.built(structure, state)
            self.judge(made, state)

    def fit_distillation(self, structure: Structure) -> Structure | None:
        """The structure with as many epochs and examples as the time left allows, keeping the
        time to judge its student on every backend."""
        # Until a distillation was timed: the dense fp32 forward at the training batch and the
        # calibration's mean length, from its timing at the target's.
        dense_forward_s = (self.dense_ms / 1000 * (DistillStep.batch_size / self.target.batch_size)
                           * (self.parent.reference.seq_length / self.target.seq_length))
        step_s = self.clock.took.get("distill_step") or policy.training_step_s(dense_forward_s, structure.macs)
        examples = len(self.workload.training_examples())
        return policy.fit_distillation(structure, self.clock.left() - self.judging_reserve(), step_s, examples, DistillStep.batch_size)

    def judging_reserve(self) -> float:
        """Seconds a distilled student needs after training: its dev score (the training curve's)
        and its making and judging on every backend."""
        after = self.clock.scoring() + sum(self.clock.judging(backend) for backend in self.backends)
        return JUDGING_MARGIN * after

    def fork(self, model=None) -> State:
        """A state for another model (default: a copy of the dense one), sharing the calibration
        and, for a copy, the statistics and mask selections (they describe the same weights)."""
        forked = replace(self.parent, model=copy.deepcopy(self.parent.model) if model is None else model, records=[],
                         timings_s={}, workdir=Path(tempfile.mkdtemp(dir=self.workdir)))
        if model is not None:
            forked.model_changed()
        return forked

    def built(self, structure: Structure, state: State) -> _Built:
        """A structure just made: saved to scratch space, priced by the table from its real shape."""
        adapter = state.adapter
        macs_ratio = model_macs(adapter, self.parent.reference.seq_length) / self.baseline.macs
        folder = self.save_structure(state.model, f"structure-{len(self.candidates)}")
        table_ms = self.prices.table_ms(adapter.heads_per_layer(), adapter.neurons_per_layer())
        return _Built(structure, folder, macs_ratio, count_params(state.model), table_ms)

    def save_structure(self, model, name: str) -> Path:
        folder = self.workdir / name
        folder.mkdir()
        self.workload.save(model, self.parent.tokenizer, folder)
        return folder

    # --- backends ------------------------------------------------------------------------------
    def judge_dense(self) -> None:
        """The dense model on every backend, all timed in turn with dense fp32 PyTorch (the
        target's reference): the report's dense rows, the first measured prices, and the models
        every candidate is timed beside."""
        dense = self.side_by_side.dense
        dense[REFERENCE_BACKEND] = self.parent.model
        made = _Built(Structure(), self.save_structure(self.parent.model, "dense"), 1.0, self.baseline.params, 0.0)
        judged: dict[str, CandidateResult] = {}
        for backend in self.backends:
            started = time.perf_counter()
            deployed = self.make_backend(made, self.parent, backend, predicted_ms=0.0)  # priced by its own timing below
            if deployed is not None:
                judged[backend] = self.candidates[-1]
                dense[backend] = deployed.final_model
                scoring = time.perf_counter()
                self.evaluate(self.candidates[-1], deployed)
                # until a candidate was scored and timed: the longest dense evaluation
                self.clock.took["scoring"] = max(time.perf_counter() - scoring, self.clock.expects("scoring"))
                self.clock.judged(backend, time.perf_counter() - started)
        start = self.side_by_side.time_dense()
        self.dense_ms, self.dense_b1_ms = start["target"][REFERENCE_BACKEND].median_ms, start["b1"][REFERENCE_BACKEND].median_ms
        self.target_ms = self.target.ms(self.dense_ms)
        shape = self.parent.adapter.heads_per_layer(), self.parent.adapter.neurons_per_layer()
        self.prices.explain_dense(self.dense_ms, *shape)
        made.table_ms = self.prices.table_ms(*shape)
        for backend, result in judged.items():
            _record(result, {name: timings[backend] for name, timings in start.items()})
            result.predicted_ms = result.latency_ms  # the dense model is its own price
            self.prices.measured(backend, made.table_ms, result.latency_ms)
        self.say(f"dense: {self.metric_name} {self.dense_metric:.2f}, {self.dense_ms:.1f} ms at batch {self.target.batch_size} "
                 f"in fp32 PyTorch; target {self.target_ms:.1f} ms, floor {self.floor_metric:.2f}")

    def judge(self, made: _Built, state: State) -> None:
        """Make each backend of a structure; screen it on the proxy, then dev and latency if it passes."""
        for backend in self.backends:
            if self.clock.left() < self.clock.judging(backend):
                self.say(f"no time left for {made.structure.label()} on {backend}")
                continue
            started = time.perf_counter()
            deployed = self.make_backend(made, state, backend, self.prices.on(made.table_ms, backend))
            if deployed is None:
                continue
            result = self.candidates[-1]
            beaten = policy.screened_by(result, self.candidates)
            if beaten is None:
                scoring = time.perf_counter()
                self.evaluate(result, deployed)
                _record(result, self.side_by_side.time(deployed.final_model, backend))
                self.clock.took["scoring"] = time.perf_counter() - scoring
                self.prices.measured(backend, made.table_ms, result.latency_ms)
            else:
                screened = f"screened out by the proxy: {beaten.label} on {beaten.backend} is faster and agrees better"
                result.note = "; ".join(filter(None, [result.note, screened]))
            result.seconds = round(time.perf_counter() - started, 1)
            self.clock.judged(backend, result.seconds)
            self.say(f"{result.label} on {backend}: agreement {result.agreement:.2f}"
                     + (f", {self.metric_name} {result.metric:.2f}, {result.latency_ms:.1f} ms" if result.metric is not None else ", screened out"))

    def make_backend(self, made: _Built, state: State, backend: str, predicted_ms: float) -> State | None:
        """``state`` deployed on ``backend``, with its candidate appended (scored on the proxy);
        None when the backend fails on this model."""
        # Static int8's fallback stops in time to score and time the result.
        deadline = self.clock.deadline(JUDGING_MARGIN * self.clock.scoring())
        try:
            deployed = deploy(replace(state, static_deadline=deadline), backend)
        except Exception as error:  # one backend failing on one model must not end the search
            self.say(f"{made.structure.label()} on {backend} failed: {first_line(error)}")
            return None
        recipe = candidate_recipe(made.structure, backend, self.num_layers)
        self.candidates.append(CandidateResult(
            made.structure.label(), backend, made.structure.to_dict(), recipe.to_dict() if recipe else None,
            round(made.macs_ratio, 4), made.params, predicted_ms, agreement=self.proxy(deployed.final_model),
        ))
        if deployed.export_report is not None and deployed.export_report.fallback_cut_short:
            self.candidates[-1].note = "static int8's per-layer fallback to fp32 was cut short by the time budget"
        # What saving it needs, without the model and runtime (reloaded from scratch space).
        self.saved[len(self.candidates) - 1] = (made, replace(deployed, model=None, deployed=None))
        return deployed

    def evaluate(self, result: CandidateResult, deployed: State) -> None:
        result.metric = round(self.parent.score(deployed.final_model)[self.metric_name], 4)
        result.size_mb = deployed_size_mb(deployed)

    # --- the choice --------------------------------------------------------------------------
    def report(self) -> OptimizeReport:
        return OptimizeReport(
            task=self.workload.name, model=self.model_name, metric_name=self.metric_name,
            target={k: v for k, v in vars(self.target).items() if v is not None}, target_ms=round(self.target_ms, 3),
            floor={k: v for k, v in vars(self.floor).items() if v is not None}, floor_metric=round(self.floor_metric, 4),
            dense_metric=round(self.dense_metric, 4), dense_ms=round(self.dense_ms, 3), dense_b1_ms=round(self.dense_b1_ms, 3),
            batch_size=self.target.batch_size, seq_length=self.target.seq_length, time_budget_s=self.clock.budget_s,
            seconds=round(self.clock.elapsed(), 1), candidates=self.candidates, front=pareto_front(self.candidates),
            chosen=policy.choose(self.candidates, self.target_ms, self.floor_metric),
            timings_s={kind: round(seconds, 2) for kind, seconds in self.clock.took.items()},
            machine=this_machine(timing_threads(self.setting)),
            dense=[index for index, (made, _) in self.saved.items() if made.structure == Structure()],
        )

    def save(self, report: OptimizeReport, folder: Path) -> None:
        """pareto.json, pareto.md, pareto.png and, if a model was chosen, model/ (as ``compress`` writes it)."""
        write_json(folder / "pareto.json", report.to_dict())
        (folder / "pareto.md").write_text(f"# bertpress optimize\n\n{report.render()}\n")
        report.plot(folder / "pareto.png")
        if report.chosen is None:
            return
        made, state = self.saved[report.chosen]
        state = replace(state, model=self.workload.load(str(made.folder)))
        best = report.candidates[report.chosen]
        recipe = candidate_recipe(made.structure, best.backend, self.num_layers)
        model_folder = folder / "model"
        model_folder.mkdir()
        if recipe is None:
            shutil.copytree(made.folder, model_folder, dirs_exist_ok=True)
            write_json(model_folder / "report.json", {"candidate": best.label, "backend": best.backend})
            return
        candidate = {"report": "optimize-candidate", "model": self.model_name, "task": self.workload.name, "candidate": vars(best)}
        save_state(state, recipe, candidate, model_folder)


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def _record(result: CandidateResult, timings: dict[str, Timing]) -> None:
    """A candidate's timings at the target batch (with its spread) and at batch 1."""
    result.latency_ms = round(timings["target"].median_ms, 3)
    result.latency_spread_ms = round(timings["target"].spread_ms, 3)
    result.latency_b1_ms = round(timings["b1"].median_ms, 3)


Workload = TaskWorkload | EmbeddingWorkload


def optimize(
    model: str,
    task: str | None,
    output: str | Path,
    *,
    target: Target,
    floor: Floor,
    time_budget_s: float = 1800.0,
    backends: list[str] | None = None,
    data: DataSource = DataSource(),
    calibration: Calibration = Calibration(),
    distill: bool = True,
    layer_drop: bool = True,
    min_run_time: float = 1.0,
    overwrite: bool = False,
    progress: bool = True,
    on_report: Callable[[OptimizeReport], None] | None = None,
    embedding: EmbeddingSetup | None = None,
    metric: str | None = None,
) -> OptimizeReport:
    """Search for the most accurate model of ``model`` on ``task`` meeting ``target`` and ``floor``
    within ``time_budget_s``; write the front and the chosen model to ``output``.

    ``embedding``: ``model`` is a sentence embedder, compressed from ``embedding``'s text and ranked
    by ``metric``: stsb (needs ``data``'s GLUE folder), ndcg@10 or another retrieval score (needs
    ``embedding.retrieval_file``), or agreement with the original; by default the first of those
    whose data is at hand.

    Raises ``NoModelMeetsTarget`` (after writing the front, without ``model/``) when no candidate
    meets both.
    """
    backends = list(backends or BACKENDS)
    unknown = [name for name in backends if name not in BACKENDS]
    if unknown:
        raise BertpressError(f"unknown backend '{unknown[0]}' (choose from {', '.join(BACKENDS)})")
    if time_budget_s < MIN_BUDGET_S:
        raise BertpressError(f"a time budget of {time_budget_s:.0f} s is too small for one candidate (at least {MIN_BUDGET_S:.0f} s)")
    if embedding is None:
        if metric is not None:
            raise BertpressError("--metric chooses a sentence embedder's score: add --embedding (a task model is ranked by its task's metric)")
        workload = make_workload(task, data, None)
    else:
        workload = EmbeddingWorkload(embedding, task, data, metric or default_embedding_metric(embedding, task, data))
    inputs = [model, *workload.input_paths()]  # no output may replace what the search reads
    check_output(output, overwrite=overwrite, inputs=inputs)
    calibration = calibration.for_task(workload.task)
    target = replace(target, seq_length=target.seq_length or calibration.max_length)  # a SQuAD window: 384
    with tempfile.TemporaryDirectory(prefix="bertpress-optimize-") as scratch:
        search = Search(
            model, workload, target=target, floor=floor, time_budget_s=time_budget_s, backends=backends,
            calibration=calibration, distill=distill, layer_drop=layer_drop,
            min_run_time=min_run_time, progress=progress, workdir=Path(scratch),
        )
        report = search.run()
        report.output = str(output)
        with atomic_dir(output, overwrite=overwrite, inputs=inputs) as folder:
            search.save(report, folder)
    if on_report is not None:
        on_report(report)
    if report.chosen is None:
        front = [report.candidates[i] for i in report.front]
        fastest = min(front, key=lambda c: c.latency_ms, default=None)
        best = "nothing was judged" if fastest is None else (
            f"the fastest on the front is {fastest.label} on {fastest.backend} at {fastest.latency_ms:.1f} ms "
            f"with {report.metric_name} {fastest.metric:.2f}")
        raise NoModelMeetsTarget(
            f"no candidate met {report.target_ms:.1f} ms with {report.metric_name} >= {report.floor_metric:.2f}: "
            f"{best}; the front is in {output}"
        )
    return report
