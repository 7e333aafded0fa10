"""Find the most accurate model that meets a latency target, within a time budget.

One run shares what candidates have in common: the calibration batches, one Fisher pass on the
dense model (every retraining-free prune searches its masks from it), one latency table (the
cost model that prices a structure before it is built) and the dense model's latency on each
backend. The steps:

1. Measure the dense model on every backend: its latency gives each backend's factor on the
   table's price, and the dense model on each backend is a candidate itself.
2. Price the MACs ladder (a mask search each, no pruning) and prune, without retraining, the
   (at most three) largest structures priced to meet the target: they keep the most.
3. Make every backend of each structure; screen each on the proxy (agreement with the dense
   model on held-out training text); evaluate on the dev set those that no candidate measured
   as fast agrees clearly better than, and measure their latency at the target batch and at 1.
4. With time left, distil the largest structures priced to meet the target (and a layer-drop
   student of the same MACs), and judge their backends the same way; then prune the rest of
   the ladder, which completes the front.
5. Choose, among the candidates whose measured latency meets the target and whose dev metric
   meets the floor, the most accurate (then the fastest).

The clock is checked before each piece of work, against what that kind of work took so far.
"""

from __future__ import annotations

import copy
import math
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from ..data.calibration import Calibration
from ..data.sources import DataSource
from ..data.tokenize import mean_length
from ..errors import BertpressError
from ..measure.agreement import AgreementProxy
from ..measure.bench import BACKENDS
from ..measure.cost import MacsBudget, Reference, resolve_budget
from ..measure.latency import LatencySetting, measure_latency
from ..measure.latency_table import latency_table
from ..measure.macs import count_params, model_macs
from ..measure.size import state_dict_size_mb
from ..models.adapters import get_adapter
from ..models.loading import load_tokenizer
from ..outputs import atomic_dir, check_output, write_json
from ..prune.search import search_masks
from ..steps import apply_step
from ..steps.runner import save_state
from ..steps.state import State
from ..steps.workload import TaskWorkload
from .candidates import BACKEND_STEPS, LADDER, Structure, candidate_recipe
from .goals import Floor, Target
from .report import CandidateResult, OptimizeReport, pareto_front

HELD_OUT = 256  # training examples outside calibration that the proxy is judged on
PROXY_NOISE = 0.5  # points of agreement within which two candidates count as equally good
MIN_BUDGET_S = 60.0  # below this no candidate can be made and judged


class NoModelMeetsTarget(BertpressError):
    """The search ended without a candidate meeting both the target and the floor."""


@dataclass
class _Built:
    """A structure made and saved to scratch space, with what its backends need."""

    structure: Structure
    folder: Path  # the PyTorch model, saved
    macs_ratio: float
    params: int
    predicted_torch_ms: float


class Search:
    """One optimize run; ``run()`` returns its report (see the module's docstring)."""

    def __init__(self, model: str, task: str, *, target: Target, floor: Floor, time_budget_s: float,
                 backends: list[str], data: DataSource, calibration: Calibration, distill: bool,
                 layer_drop: bool, min_run_time: float, progress: bool, workdir: Path):
        self.model_name, self.target, self.floor = model, target, floor
        self.budget_s, self.backends = time_budget_s, backends
        self.calibration, self.distill, self.layer_drop = calibration, distill, layer_drop
        self.progress, self.workdir = progress, workdir
        self.latency = LatencySetting(target.batch_size, target.seq_length, min_run_time=min_run_time)
        self.started = time.perf_counter()
        self.workload = TaskWorkload(task, data)
        self.candidates: list[CandidateResult] = []
        self.states: dict[int, tuple[_Built, State]] = {}  # candidate index → how to save it
        self.took: dict[str, float] = {}  # seconds the last piece of work of each kind took

    # --- the clock ---------------------------------------------------------------------------
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def left(self) -> float:
        return self.budget_s - self.elapsed()

    def affords(self, kind: str, guess: float) -> bool:
        return self.left() > self.took.get(kind, guess)

    def say(self, message: str) -> None:
        if self.progress:
            print(f"[{_minutes(self.elapsed())} elapsed, {_minutes(max(self.left(), 0))} left] {message}", file=sys.stderr, flush=True)

    # --- the run -----------------------------------------------------------------------------
    def run(self) -> OptimizeReport:
        self.setup()
        dense = _Built(Structure(), self.save_structure(self.parent.model, "dense"), 1.0, self.dense_params, self.dense_ms)
        self.judge_backends(dense, self.parent, screen=False)  # the dense model on each backend prices the others
        self.backend_factor = {
            c.backend: c.latency_ms / self.dense_ms for c in self.candidates if c.latency_ms is not None
        }
        prices = {macs: self.price(macs) for macs in LADDER}
        meets = [macs for macs in LADDER if prices[macs] * self.best_factor() <= self.target_ms * 1.15][:3]
        built = self.prune_ladder(meets, prices)
        if self.distill:
            self.distill_best(built)
        self.prune_ladder([macs for macs in LADDER if macs not in meets], prices)  # the rest of the front
        return self.report()

    def setup(self) -> None:
        self.say("loading the model, calibrating, and measuring the dense model")
        network = self.workload.load(self.model_name)
        tokenizer = load_tokenizer(self.model_name)
        batches = self.workload.prepare(network, tokenizer, self.calibration)
        held_out = self.workload.held_out(tokenizer, self.calibration, HELD_OUT) or batches[-HELD_OUT // 32:]
        self.seq_length = mean_length(batches)
        self.score = self.workload.scorer(tokenizer, self.calibration.max_length, progress=False)
        self.metric_name = self.workload.task.main_metric
        self.dense_metric = 100 * self.score(network)[self.metric_name]
        self.dense_ms = self.time(network, self.target.batch_size)
        self.dense_b1_ms = self.time(network, 1)
        self.target_ms, self.floor_metric = self.target.ms(self.dense_ms), self.floor.metric(self.dense_metric)
        self.proxy = AgreementProxy(network, self.workload.head, held_out)
        self.dense_params = count_params(network)
        adapter = get_adapter(network)
        self.num_layers = adapter.num_layers
        reference = Reference(adapter.heads_per_layer(), adapter.neurons_per_layer(), self.dense_params, self.dense_ms, self.seq_length)
        self.parent = State(
            network, tokenizer, self.workload, self.workload.head, batches, reference, self.latency, self.workdir,
            max_length=self.calibration.max_length, score=self.score, original=network,
            progress=self.progress,
        )
        self.parent.gradients()  # the one Fisher pass every retraining-free prune shares
        self.table = latency_table(adapter, self.target.batch_size, self.target.seq_length, progress=self.progress)
        self.other_ms = max(self.dense_ms - self.table.encoder_ms(reference.heads_per_layer, reference.neurons_per_layer), 0.0)
        self.dense_macs = model_macs(adapter, self.seq_length)
        self.took["prune"] = 2 * self.parent.timings_s.get("fisher", 30.0)
        self.say(f"dense: {self.metric_name} {self.dense_metric:.2f}, {self.dense_ms:.1f} ms at batch {self.target.batch_size}; "
                 f"target {self.target_ms:.1f} ms, floor {self.floor_metric:.2f}")
        if self.left() < self.took["prune"]:
            raise BertpressError(
                f"the time budget ({self.budget_s:.0f} s) is too small for one candidate: setting up took "
                f"{self.elapsed():.0f} s and one prune takes about {self.took['prune']:.0f} s more"
            )

    def time(self, model, batch_size: int) -> float:
        return measure_latency(model, batch_size, self.target.seq_length, min_run_time=self.latency.min_run_time)

    # --- structures ----------------------------------------------------------------------------
    def price(self, macs: float) -> float:
        """The table's latency of fp32 PyTorch pruned to ``macs`` (a mask search, no pruning)."""
        resolved = resolve_budget(MacsBudget(macs), self.parent.adapter, self.parent.reference, self.latency, progress=False)
        gradients = self.parent.gradients()
        masks = search_masks(gradients.head_importance(), gradients.neuron_importance(), resolved.cost, resolved.limit)
        heads = [int(m.sum()) for m in masks.heads]
        neurons = [int(m.sum()) for m in masks.neurons]
        return self.other_ms + self.table.encoder_ms(heads, neurons)

    def best_factor(self) -> float:
        return min(self.backend_factor.values(), default=1.0)

    def prune_ladder(self, ratios: list[float], prices: dict[float, float]) -> list[_Built]:
        """Retraining-free prunes to ``ratios`` (from the shared Fisher pass), each judged on every backend."""
        built = []
        for macs in ratios:
            if self.left() < self.took["prune"] + self.took.get("backend", 15.0):  # a prune with no time to judge it is waste
                self.say(f"no time left to prune to MACs {macs:g}")
                break
            self.say(f"pruning to MACs {macs:g} (priced {prices[macs]:.0f} ms in fp32 PyTorch)")
            started = time.perf_counter()
            state = self.fork(self.parent)
            apply_step(state, Structure(macs).steps(self.num_layers)[0])
            self.took["prune"] = time.perf_counter() - started
            made = self.built(Structure(macs), state)
            built.append(made)
            self.judge_backends(made, state)
        return built

    def distill_best(self, built: list[_Built]) -> None:
        """Distil the largest structures priced to meet the target, and a layer-drop student."""
        fits = sorted((b for b in built if b.predicted_torch_ms * self.best_factor() <= self.target_ms * 1.15),
                      key=lambda b: -b.macs_ratio)
        plans: list[tuple[Structure, _Built | None]] = []
        for made in fits[:2]:
            plans.append((replace(made.structure, distill_epochs=3), made))
            if made is fits[0] and self.layer_drop:
                kept = max(1, math.ceil(made.macs_ratio * self.num_layers - 1e-9))
                if kept < self.num_layers:
                    plans.append((Structure(made.macs_ratio, self.num_layers - kept, 3), None))
        for structure, start in plans:
            structure = self.fit_distillation(structure)
            if structure is None:
                self.say("no time left to distil")
                break
            self.say(f"distilling: {structure.label()}")
            started = time.perf_counter()
            state = self.fork(self.parent) if start is None else self.fork_saved(start)
            steps = structure.steps(self.num_layers)
            for step in steps if start is None else steps[-1:]:
                apply_step(state, step)
            self.took["distill_step"] = (time.perf_counter() - started) / self.distill_steps(structure)
            made = self.built(structure, state)
            self.judge_backends(made, state)

    def distill_steps(self, structure: Structure) -> int:
        examples = structure.max_train_samples or len(self.workload.training_examples())
        return max(1, math.ceil(examples / 32)) * structure.distill_epochs

    def fit_distillation(self, structure: Structure) -> Structure | None:
        """The structure with as many epochs (up to 3) and examples as the time left allows."""
        # A training step: the teacher's forward and the student's forward and backward (about
        # three forwards), on batches padded past the mean length; a guess from the dense latency
        # until a distillation is timed.
        forward_s = self.dense_ms / 1000 * (32 / self.target.batch_size) * (self.seq_length / self.target.seq_length)
        step_s = self.took.get("distill_step", 1.5 * forward_s * (1 + 4 * structure.macs))
        reserve = 1.2 * len(self.backends) * self.took.get("backend", 20.0)
        available = self.left() - reserve
        examples = len(self.workload.training_examples())
        for epochs in (3, 2, 1):
            if available >= epochs * math.ceil(examples / 32) * step_s:
                return replace(structure, distill_epochs=epochs)
        capped = int(available / step_s) * 32
        return replace(structure, distill_epochs=1, max_train_samples=capped) if capped >= 64 * 32 else None

    def fork(self, state: State, model=None) -> State:
        """A state for another model (default: a copy of ``state``'s), sharing the calibration and,
        for a copy, the statistics (they describe the same weights)."""
        forked = replace(state, model=copy.deepcopy(state.model) if model is None else model, records=[], timings_s={},
                         workdir=Path(tempfile.mkdtemp(dir=self.workdir)))
        if model is not None:
            forked.model_changed()
        return forked

    def fork_saved(self, made: _Built) -> State:
        return self.fork(self.parent, self.workload.load(str(made.folder)))

    def built(self, structure: Structure, state: State) -> _Built:
        """A structure just made: saved to scratch space, priced by the table from its real shape."""
        adapter = state.adapter
        macs_ratio = model_macs(adapter, self.seq_length) / self.dense_macs
        folder = self.save_structure(state.model, f"structure-{len(self.candidates)}")
        predicted_ms = self.other_ms + self.table.encoder_ms(adapter.heads_per_layer(), adapter.neurons_per_layer())
        return _Built(structure, folder, macs_ratio, count_params(state.model), predicted_ms)

    def save_structure(self, model, name: str) -> Path:
        folder = self.workdir / name
        folder.mkdir()
        self.workload.save(model, self.parent.tokenizer, folder)
        return folder

    # --- backends ------------------------------------------------------------------------------
    def judge_backends(self, made: _Built, state: State, screen: bool = True) -> None:
        """Make each backend of a structure; screen it on the proxy, then dev and latency if it passes."""
        for backend in self.backends:
            if not self.affords("backend", 15.0):
                self.say(f"no time left for {made.structure.label()} on {backend}")
                return
            started = time.perf_counter()
            try:
                deployed = self.deploy(state, backend)
            except Exception as error:  # one backend failing on one model must not end the search
                self.say(f"{made.structure.label()} on {backend} failed: {str(error).splitlines()[0] if str(error) else type(error).__name__}")
                continue
            recipe = candidate_recipe(made.structure, backend, self.num_layers)
            factor = self.backend_factor.get(backend, 1.0) if screen else 1.0
            result = CandidateResult(
                made.structure.label(), backend, made.structure.to_dict(), recipe.to_dict() if recipe else None,
                round(made.macs_ratio, 4), made.params, round(made.predicted_torch_ms * factor, 2),
                agreement=self.proxy(deployed.final_model),
            )
            self.candidates.append(result)
            beaten_by = self.better_and_faster(result) if screen else None
            if beaten_by is None:
                result.metric = round(100 * self.score(deployed.final_model)[self.metric_name], 4)
                result.latency_ms = round(self.time(deployed.final_model, self.target.batch_size), 3)
                result.latency_b1_ms = round(self.time(deployed.final_model, 1), 3)
                result.size_mb = _size_mb(deployed)
                if not screen:
                    result.predicted_ms = result.latency_ms  # the dense model is its own price
            else:
                result.note = f"screened out by the proxy: {beaten_by} is faster and agrees better"
            # What saving it needs, without the model and runtime (reloaded from scratch space).
            self.states[len(self.candidates) - 1] = (made, replace(deployed, model=None, deployed=None))
            result.seconds = round(time.perf_counter() - started, 1)
            self.took["backend"] = result.seconds
            self.say(f"{result.label} on {backend}: agreement {result.agreement:.2f}"
                     + (f", {self.metric_name} {result.metric:.2f}, {result.latency_ms:.1f} ms" if result.metric is not None else ", screened out"))

    def deploy(self, state: State, backend: str) -> State:
        """``state``'s model made into ``backend`` (export and quantize steps), in its own scratch folder."""
        deployed = replace(state, workdir=Path(tempfile.mkdtemp(dir=self.workdir)), deployed=None, export_dir=None,
                           export_report=None, quantization=None, records=[])
        for step in BACKEND_STEPS[backend]:
            apply_step(deployed, step)
        return deployed

    def better_and_faster(self, result: CandidateResult) -> str | None:
        """A judged candidate that measured at most ``result``'s price and agrees clearly better, if any."""
        for other in self.candidates:
            if other is result or other.metric is None:
                continue
            if other.latency_ms <= result.predicted_ms and other.agreement > result.agreement + PROXY_NOISE:
                return f"{other.label} on {other.backend}"
        return None

    # --- the choice --------------------------------------------------------------------------
    def report(self) -> OptimizeReport:
        feasible = [i for i, c in enumerate(self.candidates)
                    if c.latency_ms is not None and c.latency_ms <= self.target_ms and c.metric >= self.floor_metric]
        chosen = max(feasible, key=lambda i: (self.candidates[i].metric, -self.candidates[i].latency_ms), default=None)
        return OptimizeReport(
            task=self.workload.name, model=self.model_name, metric_name=self.metric_name,
            target={k: v for k, v in vars(self.target).items() if v is not None}, target_ms=round(self.target_ms, 3),
            floor={k: v for k, v in vars(self.floor).items() if v is not None}, floor_metric=round(self.floor_metric, 4),
            dense_metric=round(self.dense_metric, 4), dense_ms=round(self.dense_ms, 3), dense_b1_ms=round(self.dense_b1_ms, 3),
            batch_size=self.target.batch_size, seq_length=self.target.seq_length, time_budget_s=self.budget_s,
            seconds=round(self.elapsed(), 1), candidates=self.candidates, front=pareto_front(self.candidates), chosen=chosen,
            timings_s={kind: round(seconds, 2) for kind, seconds in self.took.items()},
        )

    def save(self, report: OptimizeReport, folder: Path) -> None:
        """pareto.json, pareto.md, pareto.png and, if a model was chosen, model/ (as ``compress`` writes it)."""
        write_json(folder / "pareto.json", report.to_dict())
        (folder / "pareto.md").write_text(f"# bertpress optimize\n\n{report.render()}\n")
        report.plot(folder / "pareto.png")
        if report.chosen is None:
            return
        made, state = self.states[report.chosen]
        state = replace(state, model=self.workload.load(str(made.folder)))
        best = report.candidates[report.chosen]
        recipe = candidate_recipe(made.structure, best.backend, self.num_layers)
        model_folder = folder / "model"
        model_folder.mkdir()
        if recipe is None:
            shutil.copytree(made.folder, model_folder, dirs_exist_ok=True)
            write_json(model_folder / "report.json", {"candidate": best.label, "backend": best.backend})
            return
        save_state(state, recipe, {"report": "optimize-candidate", "candidate": vars(best)}, model_folder)


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def _size_mb(state: State) -> float:
    if state.export_dir is not None:
        return state.export_report.size_mb
    return state_dict_size_mb(state.final_model)


def optimize(
    model: str,
    task: str,
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
) -> OptimizeReport:
    """Search for the most accurate model of ``model`` on ``task`` meeting ``target`` and ``floor``
    within ``time_budget_s``; write the front and the chosen model to ``output``.

    Raises ``NoModelMeetsTarget`` (after writing the front, without ``model/``) when no candidate
    meets both.
    """
    backends = list(backends or BACKENDS)
    unknown = [name for name in backends if name not in BACKENDS]
    if unknown:
        raise BertpressError(f"unknown backend '{unknown[0]}' (choose from {', '.join(BACKENDS)})")
    if time_budget_s < MIN_BUDGET_S:
        raise BertpressError(f"a time budget of {time_budget_s:.0f} s is too small for one candidate (at least {MIN_BUDGET_S:.0f} s)")
    check_output(output, overwrite=overwrite, inputs=[model])
    with tempfile.TemporaryDirectory(prefix="bertpress-optimize-") as scratch:
        search = Search(
            model, task, target=target, floor=floor, time_budget_s=time_budget_s, backends=backends, data=data,
            calibration=calibration, distill=distill, layer_drop=layer_drop, min_run_time=min_run_time,
            progress=progress, workdir=Path(scratch),
        )
        report = search.run()
        report.output = str(output)
        with atomic_dir(output, overwrite=overwrite, inputs=[model]) as folder:
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
