"""`bertpress export` (not written yet)."""


def register(subparsers) -> None:
    subparsers.add_parser("export", help="(not written yet)")
