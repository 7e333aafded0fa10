"""Writing results so that a failed run leaves nothing half-written, and nothing is lost."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import BertpressError


def check_output(
    path: str | os.PathLike, *, overwrite: bool = False, inputs: Iterable[str | os.PathLike] = ()
) -> None:
    """Refuse an output folder whose replacement would lose something.

    A non-empty folder needs ``overwrite``; the folder of an input (or one that holds it) is
    refused even then, since replacing it deletes the input. ``inputs`` that are not existing
    local paths (hub ids, aliases such as "minilm") cannot be harmed and are ignored. Callers
    check before a long run, so that a refusal costs nothing.
    """
    final = Path(path)
    if final.exists() and not final.is_dir():
        raise BertpressError(f"output {path} is a file, not a folder; choose another path")
    if final.is_dir():
        if _holds_an_input(final, inputs):
            raise BertpressError(f"output folder {path} is the input model's folder (or holds it); choose another")
        if not overwrite and any(final.iterdir()):
            raise BertpressError(f"output folder {path} exists and is not empty; pass --overwrite to replace it")
    _check_writable(final)


def _holds_an_input(folder: Path, inputs: Iterable[str | os.PathLike]) -> bool:
    """Whether ``folder`` is, or contains, one of the ``inputs`` that exist on disk (links resolved)."""
    here = folder.resolve()
    local = (Path(source).resolve() for source in inputs if Path(source).exists())
    return any(here == source or here in source.parents for source in local)


def _check_writable(final: Path) -> None:
    """The folder is created beside its final place: its nearest existing ancestor must take it."""
    ancestor = next(parent for parent in final.absolute().parents if parent.exists())
    if not ancestor.is_dir():
        raise BertpressError(f"cannot create output folder {final}: {ancestor} is a file")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise BertpressError(f"cannot create output folder {final}: no permission to write in {ancestor}")


@contextmanager
def atomic_dir(
    path: str | os.PathLike, *, overwrite: bool = False, inputs: Iterable[str | os.PathLike] = ()
) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it replaces ``path`` in one rename.

    ``overwrite`` and ``inputs`` are as for ``check_output``, which runs before anything is made.
    """
    check_output(path, overwrite=overwrite, inputs=inputs)
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    os.chmod(staging, 0o777 & ~_umask())  # mkdtemp makes it private; outputs follow the umask
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if final.exists():
        # The old folder goes only once the new one is in place: a crash between leaves both.
        old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old.", dir=final.parent))
        os.replace(final, old / final.name)
        os.replace(staging, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, final)


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write JSON atomically (a temporary file renamed into place)."""
    final = Path(path)
    if final.is_dir():
        raise BertpressError(f"cannot write JSON to {path}: it is a folder")
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", dir=final.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2)
            handle.write("\n")
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)  # a failed dump leaves no stray temporary file
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
