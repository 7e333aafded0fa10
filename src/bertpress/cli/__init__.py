"""The ``bertpress`` command: each subcommand lives in its own module and only wraps the API."""

from __future__ import annotations

import argparse
import importlib
import sys

from ..errors import BertpressError

# Subcommand modules; each defines ``register(subparsers)`` that sets ``run`` as a default.
COMMANDS = ("finetune", "evaluate", "prune", "distill", "compress", "optimize", "bench", "info", "export")


class ArgumentParser(argparse.ArgumentParser):
    """Usage errors as one line on stderr and exit code 2, like every other bad input."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="bertpress", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except BertpressError as error:
        print(f"bertpress {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        resume = getattr(args, "resume", None) or _checkpoints_left(args)
        hint = f"; continue with --resume {resume}" if resume else ""
        print(f"bertpress {args.command}: interrupted, nothing written{hint}", file=sys.stderr)
        return 130
    return 0


def _checkpoints_left(args: argparse.Namespace) -> str | None:
    """The checkpoint folder an interrupted training run left, if it saved an epoch."""
    from pathlib import Path

    from ..steps.checkpoints import MARKER
    from .common import checkpoint_folder

    folder = checkpoint_folder(args) if hasattr(args, "checkpoints") else None
    return folder if folder and Path(folder, MARKER).is_file() else None


if __name__ == "__main__":
    sys.exit(main())
