"""`bertpress info` (not written yet)."""


def register(subparsers) -> None:
    subparsers.add_parser("info", help="(not written yet)")
