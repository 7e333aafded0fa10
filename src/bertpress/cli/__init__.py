"""The ``bertpress`` command: each subcommand lives in its own module and only wraps the API."""

from __future__ import annotations

import argparse
import importlib
import sys

from ..errors import BertpressError

# Subcommand modules; each defines ``register(subparsers)`` that sets ``run`` as a default.
COMMANDS = ("finetune", "evaluate", "prune", "compress", "bench", "info", "export")


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
        print(f"bertpress {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
