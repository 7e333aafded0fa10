"""What every api verb returns: a typed report that serialises to versioned JSON and renders as text.

``report.to_dict()`` is what ``--json`` and ``report.json`` hold (with ``report`` naming the kind
and ``version`` its schema); ``Report.from_dict`` reads it back into the same types, so a script
can load yesterday's report and compare. ``render()`` is the table the CLI prints.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, ClassVar

from .errors import BertpressError


class Report:
    """Base of the reports (each a dataclass); subclasses set ``kind`` and implement ``render``."""

    kind: ClassVar[str] = ""
    version: ClassVar[int] = 1
    # Properties derived from the fields that to_dict adds for readers (from_dict ignores them).
    derived: ClassVar[tuple[str, ...]] = ()

    def to_dict(self) -> dict:
        data = {"report": self.kind, "version": self.version, **to_plain(self)}
        data.update({name: getattr(self, name) for name in self.derived})
        return data

    @classmethod
    def from_dict(cls, data: dict):
        if data.get("report", cls.kind) != cls.kind:
            raise BertpressError(f"this is a '{data.get('report')}' report, not a '{cls.kind}' report")
        if data.get("version", cls.version) > cls.version:
            raise BertpressError(
                f"the {cls.kind} report has schema version {data['version']}; this bertpress reads up to {cls.version}"
            )
        return from_plain(cls, data)

    def render(self) -> str:
        raise NotImplementedError


def to_plain(value: Any) -> Any:
    """Dataclasses, lists and dicts as JSON data; a dataclass member of a union also writes its ``kind``."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        kind = getattr(value, "kind", None)
        return fields if isinstance(value, Report) or kind is None else {"kind": kind, **fields}
    if isinstance(value, (list, tuple)):
        return [to_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: to_plain(item) for key, item in value.items()}
    return value


def from_plain(kind: Any, data: Any) -> Any:
    """The inverse of ``to_plain`` for the type ``kind`` (a dataclass, list, dict, union, or a scalar)."""
    if data is None:
        return None
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = [option for option in typing.get_args(kind) if option is not type(None)]
        return from_plain(_pick(options, data), data)
    if origin in (list, tuple):
        (item,) = typing.get_args(kind)[:1]
        values = [from_plain(item, value) for value in data]
        return values if origin is list else tuple(values)
    if origin is dict:
        _, item = typing.get_args(kind)
        return {key: from_plain(item, value) for key, value in data.items()}
    if dataclasses.is_dataclass(kind):
        hints = typing.get_type_hints(kind)
        fields = {f.name: from_plain(hints[f.name], data[f.name]) for f in dataclasses.fields(kind) if f.name in data}
        return kind(**fields)
    return data


def _pick(options: list, data: Any):
    """The member of a union that ``data`` was written from: a dataclass by its ``kind``, else the first."""
    if isinstance(data, dict) and "kind" in data:
        for option in options:
            if getattr(option, "kind", None) == data["kind"]:
                return option
    return options[0]

