"""Per-epoch checkpoints of a recipe's training steps, and resuming from them.

A checkpoint folder holds ``latest/``: the student as a model folder (its pruned shapes
included), the optimizer, scheduler and random states (``accelerate``'s ``save_state``), and
``progress.json``: where in the recipe the run was, the training curve so far, the records of
the finished steps, and the run's fingerprint (model, task, recipe, data, calibration). A new
``latest/`` is written beside the old one and renamed over it, so an interruption at any moment
leaves the previous epoch's checkpoint whole. ``--resume`` refuses a folder of another run.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..distributed import is_main, wait_for_everyone
from ..errors import BertpressError
from ..outputs import follow_umask, write_json
from ..reports import from_plain, to_plain
from ..train.loop import check_saved_state
from .report import StepRecord

MARKER = "bertpress-checkpoints.json"  # says that bertpress made the folder (and may replace it)


@dataclass
class Progress:
    """Where an interrupted run stood after its last finished epoch."""

    step: int  # index of the training step in the recipe
    epoch: int  # epochs of that step finished
    curve: list[dict]  # that step's per-epoch losses and dev metrics so far
    records: list[StepRecord]  # the steps before it
    timings_s: dict[str, float]
    student: Path  # the student model folder (its optimizer state is in ../training)


@dataclass
class Checkpoints:
    folder: Path
    fingerprint: dict

    def check_fresh(self) -> None:
        """Refuse a folder that holds anything: another run's checkpoints, or files not ours."""
        if self.folder.exists() and (not self.folder.is_dir() or any(self.folder.iterdir())):
            if (self.folder / MARKER).is_file():
                raise BertpressError(
                    f"{self.folder} holds the checkpoints of an earlier run; continue it with --resume {self.folder}, "
                    "or remove the folder"
                )
            raise BertpressError(f"checkpoint folder {self.folder} exists and is not bertpress's; choose another")

    def read(self) -> Progress:
        """The progress saved in the folder; refuses a folder of another run."""
        # "previous" is whole only while a save swaps it for "latest": an interruption there keeps it.
        found = [self.folder / name for name in ("latest", "previous") if (self.folder / name / "progress.json").is_file()]
        if not found:
            raise BertpressError(f"{self.folder} holds no bertpress checkpoint to resume from")
        progress_file = found[0] / "progress.json"
        try:
            saved = json.loads(progress_file.read_text())
        except (OSError, ValueError) as error:
            raise BertpressError(f"the checkpoint in {self.folder} is damaged: {error}") from error
        theirs = saved.get("fingerprint", {})
        differing = [key for key in self.fingerprint if theirs.get(key) != self.fingerprint[key]]
        if differing:
            raise BertpressError(
                f"{self.folder} is the checkpoint of another run (its {differing[0]} differs: "
                f"{theirs.get(differing[0])!r}, not {self.fingerprint[differing[0]]!r})"
            )
        check_saved_state(found[0] / "training")
        return Progress(
            step=saved["step"],
            epoch=saved["epoch"],
            curve=saved["curve"],
            records=[from_plain(StepRecord, record) for record in saved["records"]],
            timings_s=saved["timings_s"],
            student=found[0] / "student",
        )

    def save(self, state, trainer, epoch: int, curve: list[dict], records: list[StepRecord]) -> None:
        """Checkpoint ``state.model`` after ``epoch`` of the step at ``state.step_index``; every process calls it."""
        staging = self.folder / "next"
        if is_main():
            self.folder.mkdir(parents=True, exist_ok=True)
            write_json(self.folder / MARKER, {"fingerprint": self.fingerprint})
            shutil.rmtree(staging, ignore_errors=True)  # an interrupted save of ours
        wait_for_everyone()
        trainer.save(staging / "training")
        if is_main():
            (staging / "student").mkdir()
            state.workload.save(state.model, state.tokenizer, staging / "student")
            progress = {
                "fingerprint": self.fingerprint,
                "step": state.step_index,
                "epoch": epoch,
                "curve": curve,
                "records": to_plain(records),
                "timings_s": state.timings_s,
            }
            write_json(staging / "progress.json", progress)
            follow_umask(staging)
            self._replace_latest(staging)
        wait_for_everyone()

    def _replace_latest(self, staging: Path) -> None:
        latest, old = self.folder / "latest", self.folder / "previous"
        shutil.rmtree(old, ignore_errors=True)
        if latest.exists():
            os.replace(latest, old)
        os.replace(staging, latest)  # from here on, the new epoch is the one a resume reads
        shutil.rmtree(old, ignore_errors=True)

    def remove(self) -> None:
        """The run finished: its checkpoints are of no further use (only ever our own folder)."""
        if is_main() and (self.folder / MARKER).is_file():
            shutil.rmtree(self.folder)
