"""The one exception type a user sees: the CLI prints its message on one line and exits 2."""


class BertpressError(Exception):
    """Bad input or an impossible request, explained in one sentence."""


def first_line(error: BaseException) -> str:
    """The first line of an exception's message (libraries' messages run on for pages)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
