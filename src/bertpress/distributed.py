"""Running under ``accelerate launch``: which process this is, and doing a thing once.

In one process (the usual case) every helper is a plain call. Under ``accelerate launch
--num_processes N`` every process runs the same recipe: the Fisher pass and distillation split
their batches between the processes, while measuring, scoring and saving happen on the main
process only and its results are broadcast, so that every process takes the same decisions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch
from accelerate import PartialState
from accelerate.utils import broadcast_object_list
from accelerate.utils import reduce as reduce_across

T = TypeVar("T")


def processes() -> PartialState:
    return PartialState()


def is_main() -> bool:
    return PartialState().is_main_process


def on_main(compute: Callable[[], T]) -> T:
    """``compute()`` on the main process, its result (or its exception) handed to every process."""
    state = PartialState()
    if state.num_processes == 1:
        return compute()
    outcome: list = [None]
    if state.is_main_process:
        try:
            outcome = [(True, compute())]
        except Exception as error:  # the other processes would wait for a result forever
            outcome = [(False, error)]
    broadcast_object_list(outcome)
    succeeded, value = outcome[0]
    if not succeeded:
        raise value
    return value


def sum_across(tensor: torch.Tensor) -> torch.Tensor:
    """The elementwise sum of ``tensor`` over all processes (itself in one process)."""
    if PartialState().num_processes == 1:
        return tensor
    return reduce_across(tensor, reduction="sum")


def wait_for_everyone() -> None:
    PartialState().wait_for_everyone()
