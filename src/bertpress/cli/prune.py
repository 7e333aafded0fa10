"""`bertpress prune` (not written yet)."""


def register(subparsers) -> None:
    subparsers.add_parser("prune", help="(not written yet)")
