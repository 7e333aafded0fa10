"""A recipe: an ordered list of step configs (the llm-compressor idea), stored as YAML or JSON.

    steps:
      - drop_layers: {count: 2, strategy: fisher}
      - prune: {macs: 0.5}
      - quantize: {backend: onnx, mode: dynamic}

Every ratio in a recipe is relative to the model the recipe started from. A recipe is checked
whole before anything runs: unknown steps and fields, steps in an order that cannot work, and
layer drops that would leave no layer are refused with one line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..errors import BertpressError
from ..measure.latency import LatencySetting
from .base import Stage, StepConfig, step_type

VERSION = 1


@dataclass(frozen=True)
class Recipe:
    steps: tuple[StepConfig, ...]

    def __post_init__(self):
        if not self.steps:
            raise BertpressError("the recipe has no steps")
        _check_order(self.steps)

    @classmethod
    def of(cls, *steps: StepConfig) -> Recipe:
        return cls(tuple(steps))

    @classmethod
    def from_dict(cls, data) -> Recipe:
        if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
            raise BertpressError("a recipe is a mapping with a 'steps' list")
        version = data.get("version", VERSION)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise BertpressError(f"recipe version must be a whole number of at least 1, not {version!r}")
        if version > VERSION:
            raise BertpressError(f"recipe version {version} is newer than this bertpress reads ({VERSION})")
        return cls(tuple(_step(item, number) for number, item in enumerate(data["steps"], 1)))

    @classmethod
    def load(cls, path: str | Path) -> Recipe:
        """A recipe file, YAML or JSON (YAML reads both)."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise BertpressError(f"cannot read recipe {path}: {error.strerror}") from error
        except UnicodeDecodeError as error:
            raise BertpressError(f"recipe {path} is not UTF-8 text (byte {error.start} cannot be read)") from error
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise BertpressError(f"recipe {path} is not valid YAML or JSON: {str(error).splitlines()[0]}") from error
        return cls.from_dict(data)

    def to_dict(self) -> dict:
        return {"version": VERSION, "steps": [{step.name: step.to_dict()} for step in self.steps]}

    def save(self, path: str | Path) -> None:
        path = Path(path)
        if path.suffix == ".json":
            path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        else:
            path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None))

    def latency_setting(self, latency: LatencySetting) -> LatencySetting:
        """Where this recipe's latency budgets are measured: what its steps pin, else ``latency``."""
        pinned = {step.latency_setting(latency) for step in self.steps} - {latency}
        if len(pinned) > 1:
            raise BertpressError("the recipe's latency budgets are measured at different batch sizes, lengths or devices")
        return pinned.pop() if pinned else latency

    def pinned(self, latency: LatencySetting) -> Recipe:
        """The recipe with the run's measurement setting written into the steps that depend on it."""
        return Recipe(tuple(step.pin(latency) for step in self.steps))

    @property
    def times_dense(self) -> bool:
        """Whether a step's budget needs the dense model's latency (else it is timed only beside the result)."""
        return any(step.times_dense for step in self.steps)

    def input_paths(self) -> tuple[str, ...]:
        """What the steps read (a teacher, a text file), which no output may replace."""
        return tuple(path for step in self.steps for path in step.input_paths())

    def check_layers(self, num_layers: int) -> None:
        """Refuse before any work a recipe whose fixed layer drops do not fit a model of ``num_layers``."""
        for step in self.steps:
            num_layers = step.layers_left(num_layers)


def _step(item, number: int) -> StepConfig:
    if not isinstance(item, dict) or len(item) != 1:
        raise BertpressError(f"recipe step {number} must map one step name to its fields, e.g. '- prune: {{macs: 0.5}}'")
    (name, fields), = item.items()
    return step_type(name).from_dict(fields)


def _check_order(steps: tuple[StepConfig, ...]) -> None:
    for number, (before, step) in enumerate(zip(steps, steps[1:]), 2):
        if before.last:
            raise BertpressError(f"step {number} '{step.name}' cannot follow '{before.name}': it must be the recipe's last step")
        if step.stage < before.stage:
            raise BertpressError(
                f"step {number} '{step.name}' cannot follow '{before.name}': "
                + ("it changes the PyTorch model, so it must come before export and quantize"
                   if step.stage == Stage.STRUCTURE else "export comes before quantize")
            )
        if step.stage == before.stage and step.stage != Stage.STRUCTURE:
            raise BertpressError(f"step {number} '{step.name}' repeats '{before.name}': a recipe has at most one")
        step.check_follows(before, number)
