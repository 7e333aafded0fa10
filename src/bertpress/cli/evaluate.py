"""`bertpress evaluate` (not written yet)."""


def register(subparsers) -> None:
    subparsers.add_parser("evaluate", help="(not written yet)")
