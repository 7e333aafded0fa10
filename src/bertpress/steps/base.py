"""Steps: one frozen config per compression method, registered to the handler that applies it.

The torchao idea (``quantize_(model, config)``): ``apply_step(state, config)`` finds the handler
registered for ``type(config)``. A new method is a new config class, a handler and one
``register_step`` call; no other code changes. Configs read and write plain dicts (the items of
a recipe), and a dict with an unknown field or a value of the wrong type is refused with one line.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar, Literal

from ..errors import BertpressError
from ..measure.latency import LatencySetting


class Stage(IntEnum):
    """Where a step may stand in a recipe: changes to the PyTorch model, then export, then quantize."""

    STRUCTURE = 0
    EXPORT = 1
    QUANTIZE = 2


@dataclass(frozen=True)
class StepConfig:
    """Base of the step configs: subclasses set ``name`` and ``stage`` and validate in ``__post_init__``."""

    name: ClassVar[str] = ""
    stage: ClassVar[Stage] = Stage.STRUCTURE
    trains: ClassVar[bool] = False  # trains the model for epochs: checkpointed, resumable
    last: ClassVar[bool] = False  # nothing may follow it in a recipe

    def to_dict(self) -> dict:
        """The fields that are set (None means 'not given')."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {key: list(value) if isinstance(value, tuple) else value for key, value in values.items() if value is not None}

    def check_follows(self, before: StepConfig, number: int) -> None:
        """Refuse to stand at position ``number`` right after ``before`` (the stage order is checked already)."""

    def check_inputs(self, model, tokenizer, task, task_head) -> None:
        """Refuse, before any slow work, inputs of this step that cannot work with ``model``."""

    def input_paths(self) -> tuple[str, ...]:
        """The files and folders (or hub ids) the step reads, which no output may replace."""
        return ()

    @property
    def times_dense(self) -> bool:
        """Whether the step needs the dense model's latency before it runs (a latency budget does)."""
        return False

    def layers_left(self, num_layers: int) -> int:
        """The layer count after this step on a model of ``num_layers``, where it is known in advance."""
        return num_layers

    def pin(self, latency: LatencySetting) -> StepConfig:
        """This step with what the run measures at written into it, so that a saved recipe redoes it."""
        return self

    def latency_setting(self, latency: LatencySetting) -> LatencySetting:
        """``latency`` with what this step pins (a latency budget's batch size, length, device)."""
        return latency

    @classmethod
    def from_dict(cls, fields: dict | None) -> StepConfig:
        fields = fields or {}
        if not isinstance(fields, dict):
            raise BertpressError(f"step '{cls.name}' takes a mapping of fields, not {fields!r}")
        hints = typing.get_type_hints(cls)
        known = {f.name for f in dataclasses.fields(cls)}
        aliases = getattr(cls, "aliases", {})
        values = {}
        for key, value in fields.items():
            name = aliases.get(key, key)
            if name not in known:
                raise BertpressError(f"step '{cls.name}' has no field '{key}' (fields: {', '.join(sorted(known))})")
            values[name] = _checked(cls.name, name, hints[name], value)
        return cls(**values)


_STEPS: dict[str, type[StepConfig]] = {}
_HANDLERS: dict[type[StepConfig], Callable[[Any, StepConfig], dict]] = {}


def register_step(config_type: type[StepConfig], handler: Callable[[Any, StepConfig], dict]) -> None:
    """Make ``config_type`` usable in recipes, applied by ``handler(state, config) -> details``."""
    _STEPS[config_type.name] = config_type
    _HANDLERS[config_type] = handler


def step_type(name: str) -> type[StepConfig]:
    if name not in _STEPS:
        raise BertpressError(f"unknown step '{name}' (steps: {', '.join(sorted(_STEPS))})")
    return _STEPS[name]


def apply_step(state, config: StepConfig) -> dict:
    """Apply one step to the shared state; returns what the report records about it."""
    return _HANDLERS[type(config)](state, config)


def _checked(step: str, field: str, hint: Any, value: Any) -> Any:
    """``value`` as the field's type wants it, or a one-line error naming the step and field."""
    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, _UNION) else (hint,)
    if value is None and type(None) in options:
        return None
    for option in (option for option in options if option is not type(None)):
        accepted = _accept(option, value)
        if accepted is not _REFUSED:
            return accepted
    wanted = " or ".join(_describe(option) for option in options if option is not type(None))
    raise BertpressError(f"step '{step}': field '{field}' must be {wanted}, not {value!r}")


_REFUSED = object()
_UNION = type(int | None)


def _accept(kind: Any, value: Any) -> Any:
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is bool:
        return value if isinstance(value, bool) else _REFUSED
    if kind is int:
        return value if is_number and isinstance(value, int) else _REFUSED
    if kind is float:
        return float(value) if is_number else _REFUSED
    if kind is str:
        return value if isinstance(value, str) else _REFUSED
    if typing.get_origin(kind) is Literal:
        return value if value in typing.get_args(kind) else _REFUSED
    if typing.get_origin(kind) is tuple:
        item = typing.get_args(kind)[0]
        if not isinstance(value, (list, tuple)):
            return _REFUSED
        items = [_accept(item, element) for element in value]
        return _REFUSED if _REFUSED in items else tuple(items)
    return _REFUSED


def _describe(kind: Any) -> str:
    if typing.get_origin(kind) is Literal:
        return "one of " + ", ".join(repr(option) for option in typing.get_args(kind))
    if typing.get_origin(kind) is tuple:
        return f"a list of {_describe(typing.get_args(kind)[0])}s"
    return {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}.get(kind, str(kind))
