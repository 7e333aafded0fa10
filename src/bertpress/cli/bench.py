"""`bertpress bench` (not written yet)."""


def register(subparsers) -> None:
    subparsers.add_parser("bench", help="(not written yet)")
