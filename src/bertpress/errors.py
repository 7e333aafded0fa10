"""The one exception type a user sees: the CLI prints its message on one line and exits 2."""


class BertpressError(Exception):
    """Bad input or an impossible request, explained in one sentence."""
