"""The ``bertpress`` command: each subcommand lives in its own module and only wraps the API."""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .. import __version__
from ..errors import BertpressError
from .common import check_json_target, checkpoint_folder, fill_task_lengths

# Subcommand modules; each defines ``register(subparsers)`` that sets ``run`` as a default. They
# import nothing heavy (torch, transformers, datasets, ONNX, OpenVINO) until ``run``: --help and
# usage errors answer at once.
COMMANDS = ("finetune", "evaluate", "prune", "distill", "compress", "optimize", "bench", "info", "export")

# Exit codes of a run stopped by a signal: 128 + the signal's number, as shells report them.
INTERRUPTED = 128 + signal.SIGINT
TERMINATED = 128 + signal.SIGTERM


class ArgumentParser(argparse.ArgumentParser):
    """Usage errors as one line on stderr and exit code 2, like every other bad input."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


class Terminated(BaseException):
    """SIGTERM, raised where the program stands so that it unwinds as Ctrl-C does: temporary
    folders (``outputs.atomic_dir``) are removed. Not an ``Exception``, so that no handler of
    ordinary errors mistakes it for a failed step and carries on."""


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="bertpress", description=__doc__)
    parser.add_argument("--version", action="version", version=f"bertpress {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    fill_task_lengths(args)
    try:
        with _sigterm_raises():
            check_json_target(args)
            args.run(args)
    except BertpressError as error:
        print(f"bertpress {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        _say_stopped(args, "interrupted")
        return INTERRUPTED
    except Terminated:
        _say_stopped(args, "terminated")
        return TERMINATED
    return 0


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    """Turn SIGTERM into ``Terminated`` while a command runs (its default kills the process on
    the spot, leaving temporary folders behind); the previous handler comes back after."""

    def handle(signum, frame):
        raise Terminated

    previous = signal.signal(signal.SIGTERM, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous or signal.SIG_DFL)  # None: a handler not set from Python


def _say_stopped(args: argparse.Namespace, how: str) -> None:
    """One line, on a line of its own, saying that the run stopped and what it kept."""
    _end_progress_line()
    kept = _checkpoint_kept(args)
    if kept is None:
        print(f"bertpress {args.command}: {how}, nothing written", file=sys.stderr)
    else:
        kept_line = f"its last finished epoch is kept in {kept}: continue with --resume {kept}"
        print(f"bertpress {args.command}: {how}; {kept_line}", file=sys.stderr)


def _end_progress_line() -> None:
    """Close the progress bars the run left open and end their line: an open bar would hold the
    cursor mid-line, and redraw itself below the message once collected."""
    tqdm = sys.modules.get("tqdm")
    bars = list(tqdm.tqdm._instances) if tqdm else []  # tqdm's registry of open bars (no public one)
    for bar in bars:
        bar.close()
    if not bars and sys.stderr.isatty():
        print(file=sys.stderr)  # the terminal echoed ^C where the cursor stood


def _checkpoint_kept(args: argparse.Namespace) -> str | None:
    """The checkpoint folder of a training run that saved an epoch, which --resume continues."""
    if not hasattr(args, "checkpoints"):
        return None  # a command without checkpoints
    from ..steps.checkpoints import Checkpoints

    folder = args.resume or checkpoint_folder(args)  # a resumed run checkpoints where it resumed from
    try:
        Checkpoints(Path(folder), fingerprint={}).read()  # no fingerprint to match: any saved epoch will do
    except BertpressError:
        return None
    return folder


if __name__ == "__main__":
    sys.exit(main())
