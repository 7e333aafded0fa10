"""`bertpress finetune` (not written yet)."""


def register(subparsers) -> None:
    subparsers.add_parser("finetune", help="(not written yet)")
